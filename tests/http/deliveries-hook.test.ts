/**
 * `GET /logs/api/deliveries?hook_id=`: the relayed delivery whose X-GitHub-Delivery is a hook id the
 * processor logged — the webhook behind a flow, masked as the Webhooks tab masks it.
 */
import { describe, expect, test } from "bun:test";
import { relayFixture } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";

const HOOK = "2f6d20ce-ee0b-11f1-bbe4-02fc00000001";

interface Answer {
  hook_id?: string;
  deliveries: Array<{ bucket_name: string; headers: Record<string, string[]>; body: string }>;
}

async function byHook(url: string): Promise<Answer> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return (await response.json()) as Answer;
}

describe("deliveries by hook id", () => {
  test("finds the delivery in whichever bucket holds it, masked; none when it was not relayed", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const github = await relay.createBucket("github");
    await relay.createBucket("other");
    for (const [id, n] of [
      ["another-delivery", 1],
      [HOOK, 2],
    ] as const) {
      const response = await relay.post(
        github.inputs[0]?.id as string,
        `{"n": ${n}, "token": "ghp_16C7e42F292c6912E7710c838347Ae178B4a"}`,
        {
          headers: {
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": id,
            Authorization: "Bearer s3cr3t-value",
          },
        },
      );
      expect(response.status).toBe(200);
    }

    const found = await byHook(server.httpUrl(`/logs/api/deliveries?hook_id=${HOOK}`));
    expect(found.hook_id).toBe(HOOK);
    expect(found.deliveries).toHaveLength(1);
    const [delivery] = found.deliveries;
    expect(delivery?.bucket_name).toBe("github");
    expect(delivery?.headers["X-Github-Delivery"]).toEqual([HOOK]);
    expect(delivery?.headers.Authorization).toEqual(["Bearer *****"]);
    expect(delivery?.body).toBe('{"n": 2, "token": "ghp_*****"}');

    expect(
      (await byHook(server.httpUrl(`/logs/api/deliveries?hook_id=${HOOK}&bucket=github`))).deliveries,
    ).toHaveLength(1);
    expect(
      (await byHook(server.httpUrl(`/logs/api/deliveries?hook_id=${HOOK}&bucket=other`))).deliveries,
    ).toEqual([]);
    expect((await byHook(server.httpUrl("/logs/api/deliveries?hook_id=never-relayed"))).deliveries).toEqual(
      [],
    );
  });

  test("an empty hook id is refused naming the field", async () => {
    await using server = await startTestServer();
    const response = await fetch(server.httpUrl("/logs/api/deliveries?hook_id="));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { field: string }).field).toBe("hook_id");
  });
});
