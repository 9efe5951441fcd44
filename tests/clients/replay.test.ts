/**
 * Replay: a stored delivery re-sent by an admin reaches the bucket's subscribers marked as a replay, live and
 * on resume; through the admin API and through `hookstream replay`, as a forwarding agent sees it.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode } from "../../src/clients/exit-codes.ts";
import { parseReplayArgs } from "../../src/clients/replay-command.ts";
import { spawnChild } from "../helpers/child.ts";
import { type Credentials, relayFixture, type WebhookMessage } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { startTarget } from "../helpers/target.ts";
import { waitFor } from "../helpers/ws.ts";

// Real servers and child processes on a shared 2-core machine: more than bun's 5 s default per test.
setDefaultTimeout(20_000);

async function setup() {
  const server = await startTestServer();
  const relay = await relayFixture(server);
  const bucket = await relay.createBucket("replayed");
  const reader = await relay.createToken({ buckets: ["replayed"] });
  const input = bucket.inputs[0]?.id as string;
  return {
    server,
    relay,
    bucket,
    reader,
    input,
    replay: (id: string, bucketRef = "replayed", credentials: Credentials | null = relay.admin) =>
      relay.api("POST", `/v1/buckets/${bucketRef}/deliveries/${id}/replay`, undefined, credentials),
    async [Symbol.asyncDispose]() {
      await relay[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
}

describe("replaying a stored delivery", () => {
  test("a subscriber sees the copy marked as a replay of the original, with the same method, headers, query and bytes", async () => {
    await using t = await setup();
    const socket = await t.relay.subscribed(t.reader, ["replayed"]);
    const posted = await t.relay.post(t.input, '{"hi":1}', {
      method: "PUT",
      query: "a=1",
      headers: {
        "Content-Type": "application/json",
        "X-GitHub-Delivery": "guid-1",
        "X-GitHub-Event": "push",
      },
    });
    expect(posted.status).toBe(200);
    const original = await socket.nextJson<WebhookMessage & { replay?: unknown }>();
    expect(original.replay).toBeUndefined();

    const response = await t.replay(original.meta.id);
    expect(response.status).toBe(201);
    const answer = (await response.json()) as {
      id: string;
      cursor: string;
      replay_of: string;
      bucket: string;
    };
    expect(answer.replay_of).toBe(original.meta.id);
    const copy = await socket.nextJson<WebhookMessage & { replay?: { of: string } }>();
    expect(copy.replay).toEqual({ of: original.meta.id });
    expect(copy.meta.id).toBe(answer.id);
    expect(copy.cursor).toBe(answer.cursor);
    expect(copy.meta.id).not.toBe(original.meta.id);
    const { meta: copyMeta, cursor: _copyCursor, replay: _replay, ...copyRest } = copy;
    const { meta: originalMeta, cursor: _originalCursor, ...originalRest } = original;
    expect(copyRest).toEqual(originalRest);
    expect({ ...copyMeta, id: "" }).toEqual({ ...originalMeta, id: "" });
    expect(copy.headers["X-Github-Delivery"]).toEqual(["guid-1"]);

    // A replay of the replay still names the first original.
    const again = (await (await t.replay(copy.meta.id)).json()) as { replay_of: string };
    expect(again.replay_of).toBe(original.meta.id);
    expect((await socket.nextJson<{ replay?: { of: string } }>()).replay).toEqual({ of: original.meta.id });
    socket.close();
  });

  test("the copy is stored: a subscriber resuming from the original's cursor gets it, marked, once", async () => {
    await using t = await setup();
    await t.relay.post(t.input, "one", { headers: { "Content-Type": "text/plain" } });
    const first = await t.relay.subscribed(
      t.reader,
      ["replayed"],
      (await t.relay.store.deliveryPosition()).cursors.format(0),
    );
    const original = await first.nextJson<WebhookMessage>();
    first.close();
    expect((await t.replay(original.meta.id)).status).toBe(201);
    const resumed = await t.relay.subscribed(t.reader, ["replayed"], original.cursor);
    const copy = await resumed.nextJson<WebhookMessage & { replay?: { of: string } }>();
    expect(copy.replay).toEqual({ of: original.meta.id });
    expect(copy.body).toBe("one");
    expect(await resumed.nextJson()).toMatchObject({ status: "live" });
    resumed.close();
  });

  test("unknown buckets and deliveries get 404 naming the field; only admin tokens may replay", async () => {
    await using t = await setup();
    await t.relay.createBucket("elsewhere");
    await t.relay.post(t.input, "x");
    const socket = await t.relay.subscribed(
      t.reader,
      ["replayed"],
      (await t.relay.store.deliveryPosition()).cursors.format(0),
    );
    const { meta } = await socket.nextJson<WebhookMessage>();
    socket.close();
    const cases: Array<[Response, number, string | undefined]> = [
      [await t.replay(meta.id, "missing"), 404, "bucket"],
      [await t.replay("999999"), 404, "id"],
      [await t.replay("not-an-id"), 404, "id"],
      [await t.replay(meta.id, "elsewhere"), 404, "id"],
      [await t.replay(meta.id, "replayed", t.reader), 403, undefined],
      [await t.replay(meta.id, "replayed", null), 401, undefined],
    ];
    for (const [response, status, field] of cases) {
      expect(response.status).toBe(status);
      expect(((await response.json()) as { field?: string }).field).toBe(field as string);
    }
  });
});

describe("hookstream replay", () => {
  const flags: Array<[string, string[], Record<string, string>, Record<string, unknown> | string]> = [
    [
      "bucket and id are read with the default server",
      ["b", "12"],
      { RELAY_KEY: "k", RELAY_SECRET: "s" },
      { bucket: "b", id: "12", json: false },
    ],
    [
      "a missing id is refused",
      ["b"],
      { RELAY_KEY: "k", RELAY_SECRET: "s" },
      "BUCKET and DELIVERY_ID are required",
    ],
    ["missing credentials are refused", ["b", "1"], {}, "RELAY_KEY and RELAY_SECRET"],
  ];
  for (const [name, argv, env, expected] of flags)
    test(name, () => {
      if (typeof expected === "string") expect(() => parseReplayArgs(argv, env)).toThrow(expected);
      else expect(parseReplayArgs(argv, env)).toMatchObject(expected);
    });

  test("re-sends through the server, and a forwarding agent reports the delivery as a replay", async () => {
    await using t = await setup();
    const scratch = mkdtempSync(join(tmpdir(), "hookstream-replay-"));
    using target = startTarget();
    try {
      await using agent = spawnChild(
        [
          "forward",
          "--url",
          t.server.httpUrl("/"),
          "-t",
          target.url(),
          "--json",
          "--cursor-file",
          join(scratch, "c.json"),
        ],
        { RELAY_KEY: t.reader.key, RELAY_SECRET: t.reader.secret, BUCKETS: "replayed" },
      );
      await agent.waitForLine(/subscribed to buckets: replayed/, "stderr");
      await t.relay.post(t.input, '{"n":1}');
      await waitFor(() => agent.stdout.length === 1, 10_000, "the original forwarded");
      const original = JSON.parse(agent.stdout[0] as string) as { id: string; replay_of?: string };
      expect(original.replay_of).toBeUndefined();

      const admin = { RELAY_KEY: t.relay.admin.key, RELAY_SECRET: t.relay.admin.secret };
      await using cli = spawnChild(
        ["replay", "--url", t.server.httpUrl("/"), "replayed", original.id],
        admin,
      );
      expect(await cli.exited).toBe(ExitCode.OK);
      expect(cli.stdout.join("\n")).toMatch(new RegExp(`re-sent delivery ${original.id} as delivery \\d+`));
      await waitFor(() => agent.stdout.length === 2, 10_000, "the replay forwarded");
      expect(JSON.parse(agent.stdout[1] as string)).toMatchObject({ replay_of: original.id, status: 200 });
      expect(target.texts()).toEqual(['{"n":1}', '{"n":1}']);

      await using missing = spawnChild(
        ["replay", "--url", t.server.httpUrl("/"), "replayed", "424242"],
        admin,
      );
      expect(await missing.exited).toBe(ExitCode.REFUSED);
      await using refused = spawnChild(["replay", "--url", t.server.httpUrl("/"), "replayed", original.id], {
        RELAY_KEY: t.reader.key,
        RELAY_SECRET: t.reader.secret,
      });
      expect(await refused.exited).toBe(ExitCode.UNAUTHORIZED);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 20_000);
});
