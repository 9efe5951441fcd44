/**
 * Cursors and resuming on `/v1/socket` with the embedded store: the cursor's form, resuming across a restart,
 * and gaps told exactly when retention took something. What every backend does alike (resuming, unknown and
 * malformed cursors) is the contract in resume-contract.test.ts.
 */
import { describe, expect, test } from "bun:test";
import {
  type CreatedBucket,
  type Credentials,
  type RelayFixture,
  relayFixture,
  relayHealth,
  type WebhookMessage,
} from "../helpers/relay.ts";
import { bodies, inputOf, LIVE, next, post } from "../helpers/relay-resume.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

async function setup(env: Record<string, string> = {}, dataDir?: string) {
  const server = await startTestServer({ env, dataDir });
  const relay = await relayFixture(server);
  const token = await relay.createToken();
  return {
    server,
    relay,
    token,
    async [Symbol.asyncDispose]() {
      await relay[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
}

describe("cursors", () => {
  test("every webhook carries a cursor: this database's epoch and the store order", async () => {
    await using t = await setup();
    const a = await t.relay.createBucket("a");
    const b = await t.relay.createBucket("b");
    const socket = await t.relay.subscribed(t.token);
    for (let i = 0; i < 6; i++) await post(t.relay, i % 2 ? b : a, String(i));
    const messages = (await socket.take(6)).map((raw) => JSON.parse(raw) as WebhookMessage);
    const epoch = (await t.relay.store.deliveryPosition()).cursors.format(0).slice(0, 8);
    for (const message of messages)
      expect(message.cursor).toBe(`${epoch}-${Number(message.meta.id).toString(16)}`);
    const ids = messages.map((m) => Number(m.meta.id));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(new Set(ids).size).toBe(6);
  });
});

describe("resuming", () => {
  test("a cursor from before a restart resumes after it, with what was stored meanwhile", async () => {
    const first = await setup({}, undefined);
    const a = await first.relay.createBucket("a");
    const socket = await first.relay.subscribed(first.token, ["a"]);
    await post(first.relay, a, "1");
    const one = JSON.parse(await socket.next()) as WebhookMessage;
    await post(first.relay, a, "2");
    await first.relay[Symbol.asyncDispose]();
    await first.server.shutdown();
    expect((await socket.closed).code).toBe(1001);

    await using second = await setup({}, first.server.dataDir);
    await post(second.relay, a, "3");
    const resumed = await second.relay.subscribed(first.token, ["a"], one.cursor);
    expect(await bodies(resumed, 2)).toEqual(["2", "3"]);
    expect(await next(resumed)).toEqual(LIVE);
    await post(second.relay, a, "4");
    expect(await bodies(resumed, 1)).toEqual(["4"]);
  });
});

describe("retention", () => {
  const byCount = { RELAY_RETENTION_COUNT: "5", RELAY_PRUNE_INTERVAL_MS: "100" };

  async function fill(t: { relay: RelayFixture; server: TestServer }, bucket: CreatedBucket, count: number) {
    const socket = await t.relay.subscribed((await t.relay.createToken()) satisfies Credentials, [
      bucket.name,
    ]);
    for (let i = 1; i <= count; i++) await post(t.relay, bucket, String(i));
    const messages = (await socket.take(count)).map((raw) => JSON.parse(raw) as WebhookMessage);
    socket.close();
    return messages;
  }

  test("RELAY_RETENTION_COUNT keeps the newest; a cursor before them gets a gap status naming where it resumes", async () => {
    await using t = await setup(byCount);
    const a = await t.relay.createBucket("a");
    const messages = await fill(t, a, 12);
    await waitFor(
      async () => (await t.relay.store.listDeliveries(a.id, null, 100)).length === 5,
      5000,
      "retention by count",
    );
    const resumed = await t.relay.subscribed(t.token, ["a"], messages[0]?.cursor);
    expect(await next(resumed)).toEqual({
      type: "status",
      status: "gap",
      message: "deliveries before resumed_from are no longer retained",
      requested: messages[0]?.cursor,
      resumed_from: messages[7]?.cursor,
    });
    expect(await bodies(resumed, 5)).toEqual(["8", "9", "10", "11", "12"]);
    expect(await next(resumed)).toEqual(LIVE);
    const health = await relayHealth(t.server);
    expect(health.retention_deleted).toBe(7);
    expect(health.gaps_reported).toBe(1);
  });

  test("retention keeps up with a burst: one pass deletes as many transactions' worth as needed", async () => {
    await using t = await setup({ RELAY_RETENTION_COUNT: "10", RELAY_PRUNE_INTERVAL_MS: "100" });
    const a = await t.relay.createBucket("a");
    for (let i = 0; i < 2500; i += 250) {
      const answers = await Promise.all(
        Array.from({ length: 250 }, (_, k) => t.relay.post(inputOf(a), String(i + k))),
      );
      expect(answers.every((r) => r.status === 200)).toBe(true);
    }
    await waitFor(
      async () => (await t.relay.store.listDeliveries(a.id, null, 10_000)).length === 10,
      5000,
      "retention caught up",
    );
    expect((await relayHealth(t.server)).retention_deleted).toBe(2490);
  });

  test("a gap is told only when retention took a delivery of the subscribed buckets", async () => {
    await using t = await setup(byCount);
    const quiet = await t.relay.createBucket("quiet");
    const busy = await t.relay.createBucket("busy");
    const [q1] = await fill(t, quiet, 1);
    await fill(t, busy, 10);
    await waitFor(
      async () => (await t.relay.store.listDeliveries(quiet.id, null, 10)).length === 0,
      5000,
      "retention by count",
    );
    // The quiet bucket's own delivery is gone, but nothing after the cursor was: no gap.
    const resumed = await t.relay.subscribed(t.token, ["quiet"], q1?.cursor);
    expect(await next(resumed)).toEqual(LIVE);
    await post(t.relay, quiet, "q2");
    expect(await bodies(resumed, 1)).toEqual(["q2"]);
    // From before it, the quiet bucket did lose q1.
    const epoch = (await t.relay.store.deliveryPosition()).cursors.format(0).slice(0, 8);
    const older = await t.relay.subscribed(t.token, ["quiet"], `${epoch}-0`);
    expect(await next(older)).toMatchObject({ status: "gap", requested: `${epoch}-0` });
    expect(await bodies(older, 1)).toEqual(["q2"]);
  });

  test("RELAY_RETENTION_HOURS deletes old deliveries at start and keeps new ones", async () => {
    const first = await setup();
    const a = await first.relay.createBucket("a");
    const hoursAgo = (hours: number) => Date.now() - hours * 3_600_000;
    const old = (body: string, receivedAt: number) => ({
      bucketId: a.id,
      inputId: inputOf(a),
      githubDelivery: null,
      method: "POST",
      headers: {},
      query: "",
      body: new TextEncoder().encode(body),
      sourceAddress: "127.0.0.1",
      receivedAt,
    });
    // Written by another process (as a restored backup would be), oldest first.
    await first.relay.store.appendDeliveries([old("3h", hoursAgo(3)), old("2h", hoursAgo(2))]);
    await first.relay.store.appendDeliveries([old("now", Date.now())]);
    await first.relay[Symbol.asyncDispose]();
    await first.server.shutdown();

    await using second = await setup({ RELAY_RETENTION_HOURS: "1" }, first.server.dataDir);
    await waitFor(
      async () => (await second.relay.store.listDeliveries(a.id, null, 10)).length === 1,
      5000,
      "retention by age",
    );
    const epoch = (await second.relay.store.deliveryPosition()).cursors.format(0).slice(0, 8);
    const socket = await second.relay.subscribed(first.token, ["a"], `${epoch}-0`);
    const gap = await next(socket);
    expect(gap).toMatchObject({ status: "gap", requested: `${epoch}-0`, resumed_from: `${epoch}-3` });
    expect(await bodies(socket, 1)).toEqual(["now"]);
    expect((await relayHealth(second.server)).retention_deleted).toBe(2);
  });
});
