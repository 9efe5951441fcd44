import { describe, expect, test } from "bun:test";
import { BODY_PREVIEW_BYTES, cutAtCharacter, isLoopback } from "../../src/http/deliveries.ts";
import { maskHeaders, maskQuery } from "../../src/http/delivery-masking.ts";
import { relayFixture } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";

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

describe("masking what the Webhooks tab shows (pure)", () => {
  const queries: Array<[string, string, string]> = [
    [
      "a credential-named parameter is masked however short",
      "access_token=abc&page=2",
      "access_token=*****&page=2",
    ],
    ["a percent-encoded credential name is recognised", "api%5Fkey=k&x=1", "api%5Fkey=*****&x=1"],
    ["a parameter without a value is kept", "token&x=1", "token&x=1"],
    ["a token in any other parameter is masked", "q=ghp_16C7e42F292c6912E7710c838347Ae178B4a", "q=ghp_*****"],
    ["a name that is not valid percent-encoding is judged as written", "%E0%A4%A=1", "%E0%A4%A=1"],
    ["a query without credentials is unchanged", "page=2&sort=desc", "page=2&sort=desc"],
  ];
  for (const [name, query, masked] of queries) test(name, () => expect(maskQuery(query)).toBe(masked));

  const headers: Array<[string, string, string, string]> = [
    ["an Authorization header keeps its scheme", "Authorization", "token abc", "token *****"],
    ["a credential header without a scheme is masked whole", "X-Auth-Token", "abc", "*****"],
    ["a cookie is masked whole", "Cookie", "a=b; c=d", "*****"],
    [
      "a token in any other header is masked",
      "X-Note",
      "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
      "ghp_*****",
    ],
    [
      "a signature header is kept: it proves, it does not grant",
      "X-Hub-Signature-256",
      "sha256=ab12",
      "sha256=ab12",
    ],
  ];
  for (const [name, header, value, masked] of headers)
    test(name, () => expect(maskHeaders({ [header]: [value] })[header]).toEqual([masked]));
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

  test("credentials in headers, query and body are masked; the relay socket still gets the raw bytes", async () => {
    const ghToken = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
    const hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("secrets");
    const input = bucket.inputs[0]?.id as string;
    const socket = await relay.subscribed(await relay.createToken(), ["secrets"]);
    const body = JSON.stringify({ token: hex, installation: { access: ghToken }, note: "token expired" });
    const headers = {
      "Content-Type": "application/json",
      Authorization: `Bearer ${hex}`,
      "Proxy-Authorization": "Basic dXNlcjpwYXNz",
      "X-Api-Key": "k3y",
      Cookie: "session=abc123",
      "X-Note": `sent with ${ghToken}`,
      "X-GitHub-Event": "push",
    };
    expect(
      (await relay.post(input, body, { headers, query: `token=${hex}&access_token=abc&page=2` })).status,
    ).toBe(200);
    expect(
      (await relay.post(input, new Uint8Array([0xff, ...new TextEncoder().encode(` ${ghToken}`)]))).status,
    ).toBe(200);
    const answer = (await (
      await fetch(server.httpUrl("/logs/api/deliveries?bucket=secrets"))
    ).json()) as Answer;
    const [binary, json] = answer.deliveries;
    expect(json?.headers.Authorization).toEqual(["Bearer *****"]);
    expect(json?.headers["Proxy-Authorization"]).toEqual(["Basic *****"]);
    expect(json?.headers["X-Api-Key"]).toEqual(["*****"]);
    expect(json?.headers.Cookie).toEqual(["*****"]);
    expect(json?.headers["X-Note"]).toEqual(["sent with ghp_*****"]);
    expect(json?.headers["X-Github-Event"]).toEqual(["push"]);
    expect(json?.query).toBe("token=*****&access_token=*****&page=2");
    expect(JSON.parse(json?.body as string)).toEqual({
      token: "*****",
      installation: { access: "ghp_*****" },
      note: "token expired",
    });
    expect(binary?.body_encoding).toBe("base64");
    expect(Buffer.from(binary?.body as string, "base64").toString("latin1")).toBe("\xff ghp_*****");
    expect(JSON.stringify(answer)).not.toMatch(/16C7e42F|9f86d081|dXNlcjpwYXNz|k3y|abc123/);

    const relayed = await socket.nextJson();
    expect(relayed.body).toBe(body);
    expect((relayed.headers as Record<string, string[]>).Authorization).toEqual([`Bearer ${hex}`]);
    expect(relayed.query).toBe(`token=${hex}&access_token=abc&page=2`);
    socket.close();
  });

  test("a secret that the preview cuts in two is still masked", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("cut");
    const ghToken = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
    for (const before of [8, 12, 20]) {
      const body = `${"x".repeat(BODY_PREVIEW_BYTES - before)} ${ghToken} and more`;
      expect((await relay.post(bucket.inputs[0]?.id as string, body)).status).toBe(200);
    }
    const answer = (await (await fetch(server.httpUrl("/logs/api/deliveries?bucket=cut"))).json()) as Answer;
    expect(answer.deliveries).toHaveLength(3);
    for (const delivery of answer.deliveries) {
      expect(delivery.body_truncated).toBe(true);
      expect(delivery.body.includes("16C7")).toBe(false);
      expect(delivery.body.length).toBeLessThanOrEqual(BODY_PREVIEW_BYTES);
    }
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
