/**
 * Slow relay consumers, with a raw client that really stops reading: it leaves the live fan-out, is fed from
 * the store at its own pace and rejoins; only a client that drains nothing, or falls behind retention while
 * lagging, is closed, and it resumes with its last cursor.
 */
import { describe, expect, test } from "bun:test";
import {
  type CreatedBucket,
  type RelayFixture,
  rawRelayClient,
  rawWebhooks,
  relayFixture,
  relayHealth,
  type WebhookMessage,
} from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

const COUNT = 1000;
const BODY_BYTES = 10_000; // 1000 × 10 kB: far more than the kernel's socket buffers hold
const env = { WS_BACKPRESSURE_LIMIT_BYTES: "8388608", RELAY_LAG_BYTES: "65536" };

const body = (n: number) => `${String(n).padStart(6, "0")}:${"x".repeat(BODY_BYTES)}`;
const numberOf = (message: WebhookMessage) => Number(message.body.slice(0, 6));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

async function setup(extra: Record<string, string> = {}) {
  const server = await startTestServer({ env: { ...env, ...extra } });
  const relay = await relayFixture(server);
  const bucket = await relay.createBucket("hooks");
  const token = await relay.createToken();
  return {
    server,
    relay,
    bucket,
    token,
    async [Symbol.asyncDispose]() {
      await relay[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
}

/** Posts deliveries `from`..`to`-1, 50 at a time (so they share transactions); every one must get 200. */
async function send(relay: RelayFixture, bucket: CreatedBucket, from: number, to: number) {
  const input = (bucket.inputs[0] as { id: string }).id;
  for (let i = from; i < to; i += 50) {
    const answers = await Promise.all(range(i, Math.min(i + 50, to)).map((n) => relay.post(input, body(n))));
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
  }
}

describe("slow consumers", () => {
  test("a slow client leaves the live topics, catches up from the store, loses nothing and delays no one", async () => {
    await using t = await setup();
    const fast = await t.relay.subscribed(t.token, ["hooks"]);
    const slow = await rawRelayClient(t.server, t.token, ["hooks"]);
    slow.pause();

    const started = Date.now();
    await send(t.relay, t.bucket, 0, COUNT);
    // The fast client gets everything while the slow one reads nothing.
    const fastGot = (await fast.take(COUNT, 20_000)).map((raw) =>
      numberOf(JSON.parse(raw) as WebhookMessage),
    );
    expect(fastGot).toEqual(range(0, COUNT));
    const fastMs = Date.now() - started;
    const during = await relayHealth(t.server);
    expect(during.lag_events).toBeGreaterThanOrEqual(1);
    expect(during.catching_up).toBe(1);
    expect(rawWebhooks(slow).length).toBeLessThan(COUNT);

    slow.resume();
    await waitFor(() => rawWebhooks(slow).length >= COUNT, 20_000, "slow client caught up");
    expect(rawWebhooks(slow).map(numberOf)).toEqual(range(0, COUNT));
    // Back on the live topics: a new delivery arrives once, at both.
    await waitFor(
      async () => (await relayHealth(t.server)).catching_up === 0,
      5000,
      "slow client live again",
    );
    expect((await relayHealth(t.server)).live).toBe(2);
    await send(t.relay, t.bucket, COUNT, COUNT + 1);
    expect(numberOf(JSON.parse(await fast.next()) as WebhookMessage)).toBe(COUNT);
    await waitFor(() => rawWebhooks(slow).length === COUNT + 1, 5000, "live delivery at the slow client");
    expect(numberOf(rawWebhooks(slow).at(-1) as WebhookMessage)).toBe(COUNT);
    // Lagging never became a status the client sees: only webhooks after `subscribed`.
    expect(slow.messages.length).toBe(COUNT + 3);
    expect(slow.close).toBeNull();
    console.log(`slow relay consumer: fast client had all ${COUNT} × 10 kB in ${fastMs} ms`);
    fast.close();
    slow.end();
  }, 60_000);

  test("a paused client with a 25 MiB webhook queued is neither closed by pings nor by the next webhooks", async () => {
    await using t = await setup({ RELAY_PING_INTERVAL_MS: "100" });
    const paused = await rawRelayClient(t.server, t.token, ["hooks"]);
    paused.pause();
    const input = (t.bucket.inputs[0] as { id: string }).id;
    const big = `000000:${"x".repeat(25 * 1024 * 1024 - 8)}`;
    expect((await t.relay.post(input, big)).status).toBe(200);
    await send(t.relay, t.bucket, 1, 21);
    // Several ping intervals pass while far more than the backpressure limit is queued for it.
    await Bun.sleep(500);
    paused.resume();
    await waitFor(() => rawWebhooks(paused).length === 21, 20_000, "everything read");
    expect(rawWebhooks(paused).map(numberOf)).toEqual(range(0, 21));
    expect(paused.close).toBeNull();
    expect(paused.socket.destroyed).toBe(false);
    paused.end();
  }, 60_000);

  test("a client that stops reading is closed with 4100 and resumes with its last cursor", async () => {
    await using t = await setup({ RELAY_STALL_TIMEOUT_MS: "300" });
    const stuck = await rawRelayClient(t.server, t.token, ["hooks"]);
    stuck.pause();
    await send(t.relay, t.bucket, 0, COUNT);
    await waitFor(
      async () => (await relayHealth(t.server)).closed_too_slow === 1,
      20_000,
      "stalled client closed",
    );
    stuck.resume();
    await waitFor(() => stuck.close !== null, 20_000, "close frame read");
    expect(stuck.close).toEqual({ code: 4100, reason: "Client too slow: resume with the last cursor" });
    const received = rawWebhooks(stuck);
    expect(received.map(numberOf)).toEqual(range(0, received.length));

    const resumed = await t.relay.subscribed(t.token, ["hooks"], received.at(-1)?.cursor);
    const rest = (await resumed.take(COUNT - received.length, 20_000)).map((raw) =>
      numberOf(JSON.parse(raw) as WebhookMessage),
    );
    expect([...received.map(numberOf), ...rest]).toEqual(range(0, COUNT));
    expect(await resumed.nextJson()).toMatchObject({ status: "live" });
    resumed.close();
    stuck.end();
  }, 60_000);

  test("a lagging client that falls behind retention is closed with 4101 and told the gap when it resumes", async () => {
    await using t = await setup({ RELAY_RETENTION_COUNT: "100", RELAY_PRUNE_INTERVAL_MS: "100" });
    const behind = await rawRelayClient(t.server, t.token, ["hooks"]);
    behind.pause();
    await send(t.relay, t.bucket, 0, COUNT);
    await waitFor(
      async () => (await t.relay.store.listDeliveries(t.bucket.id, null, COUNT)).length === 100,
      10_000,
      "retention by count",
    );
    behind.resume();
    await waitFor(() => behind.close !== null, 20_000, "close frame read");
    expect(behind.close).toEqual({
      code: 4101,
      reason: "Fell behind the relay's retention: resume with the last cursor",
    });
    expect((await relayHealth(t.server)).closed_behind_retention).toBe(1);
    const received = rawWebhooks(behind);
    expect(received.map(numberOf)).toEqual(range(0, received.length));

    const last = received.at(-1) as WebhookMessage;
    const resumed = await t.relay.subscribed(t.token, ["hooks"], last.cursor);
    const gap = await resumed.nextJson<{ status: string; requested: string; resumed_from: string }>();
    expect(gap).toMatchObject({ status: "gap", requested: last.cursor });
    const rest = (await resumed.take(100, 10_000)).map((raw) => JSON.parse(raw) as WebhookMessage);
    expect(rest[0]?.cursor).toBe(gap.resumed_from);
    expect(rest.map(numberOf)).toEqual(range(COUNT - 100, COUNT));
    expect(await resumed.nextJson()).toMatchObject({ status: "live" });
    resumed.close();
    behind.end();
  }, 60_000);
});
