import { describe, expect, test } from "bun:test";
import { BODY_PREVIEW_BYTES, cutAtCharacter, isLoopback } from "../src/http/deliveries.ts";
import { relayFixture } from "./helpers/relay.ts";
import { startTestServer } from "./helpers/server.ts";

interface Answer {
  buckets: Array<{ id: string; name: string }>;
  deliveries: Array<{
    id: string;
    bucket_name: string;
    method: string;
    query: string;
    headers: Record<string, string[]>;
    body: string;
    body_encoding?: string;
    body_truncated?: boolean;
    body_bytes?: number;
    received_at: string;
  }>;
}

describe("pieces (pure)", () => {
  test("a cut never splits a UTF-8 character", () => {
    const bytes = new TextEncoder().encode("aé€😀");
    for (let limit = 0; limit <= bytes.length; limit++) {
      expect(() =>
        new TextDecoder("utf-8", { fatal: true }).decode(cutAtCharacter(bytes, limit)),
      ).not.toThrow();
    }
  });
  const addresses: Array<[string, boolean]> = [
    ["127.0.0.1", true],
    ["::1", true],
    ["::ffff:127.0.0.1", true],
    ["10.0.0.5", false],
    ["192.168.1.2", false],
  ];
  for (const [address, loopback] of addresses)
    test(`${address} is ${loopback ? "" : "not "}loopback`, () => expect(isLoopback(address)).toBe(loopback));
});

describe("GET /logs/api/deliveries", () => {
  test("recent deliveries of a bucket, newest first, with headers, query and exact bodies", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const first = await relay.createBucket("first");
    const second = await relay.createBucket("second");
    const input = first.inputs[0]?.id as string;
    for (let i = 0; i < 3; i++) {
      const response = await relay.post(input, `{"n": ${i}}`, {
        headers: { "Content-Type": "application/json", "X-GitHub-Event": "push" },
        query: `i=${i}`,
      });
      expect(response.status).toBe(200);
    }
    await relay.post(input, new Uint8Array([0xff, 0x00, 0xfe]));
    const answer = (await (
      await fetch(server.httpUrl("/logs/api/deliveries?bucket=first&limit=3"))
    ).json()) as Answer;
    expect(answer.buckets.map((b) => b.name).sort()).toEqual(["first", "second"]);
    expect(answer.deliveries.map((d) => d.body)).toEqual([
      Buffer.from([0xff, 0x00, 0xfe]).toString("base64"),
      '{"n": 2}',
      '{"n": 1}',
    ]);
    expect(answer.deliveries[0]?.body_encoding).toBe("base64");
    expect(answer.deliveries[1]).toMatchObject({ bucket_name: "first", method: "POST", query: "i=2" });
    expect(answer.deliveries[1]?.headers["X-Github-Event"]).toEqual(["push"]);
    const empty = (await (
      await fetch(server.httpUrl(`/logs/api/deliveries?bucket=${second.id}`))
    ).json()) as Answer;
    expect(empty.deliveries).toEqual([]);
  });

  test("a large body comes back cut to a preview and says so", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("big");
    const body = "é".repeat(BODY_PREVIEW_BYTES); // two bytes each: twice the preview
    expect((await relay.post(bucket.inputs[0]?.id as string, body)).status).toBe(200);
    const answer = (await (await fetch(server.httpUrl("/logs/api/deliveries?bucket=big"))).json()) as Answer;
    const [delivery] = answer.deliveries;
    expect(delivery?.body_truncated).toBe(true);
    expect(delivery?.body_bytes).toBe(BODY_PREVIEW_BYTES * 2);
    expect(delivery?.body_encoding).toBeUndefined();
    expect(delivery?.body).toBe("é".repeat(BODY_PREVIEW_BYTES / 2));
  });

  test("an unknown bucket is a 404 naming it; a bad limit a 400 naming the field", async () => {
    await using server = await startTestServer();
    const unknown = await fetch(server.httpUrl("/logs/api/deliveries?bucket=nope"));
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toContain("nope");
    const bad = await fetch(server.httpUrl("/logs/api/deliveries?limit=5000"));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { field: string }).field).toBe("limit");
  });

  test("with LOGS_TOKEN it wants the token", async () => {
    await using server = await startTestServer({ env: { LOGS_TOKEN: "a-very-long-logs-token" } });
    expect((await fetch(server.httpUrl("/logs/api/deliveries"))).status).toBe(401);
    const ok = await fetch(server.httpUrl("/logs/api/deliveries"), {
      headers: { Authorization: "Bearer a-very-long-logs-token" },
    });
    expect(ok.status).toBe(200);
  });
});
