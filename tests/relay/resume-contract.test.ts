/**
 * The relay's resume contract, run against both backends: embedded (SQLite, this process's commits) and
 * cluster (the Redis store and its shared stream). A client must not be able to tell them apart: a cursor
 * continues right after it, once each and in store order, then `live`; an unknown cursor is told as a gap;
 * a malformed one is refused and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sample, scrape } from "../helpers/metrics.ts";
import { redisAvailable, startRedis, type TestRedis } from "../helpers/redis.ts";
import {
  type Credentials,
  type RelayFixture,
  rawRelayClient,
  rawWebhooks,
  relayFixture,
  relayHealth,
  type WebhookMessage,
} from "../helpers/relay.ts";
import { startRelayCluster } from "../helpers/relay-cluster.ts";
import { bodies, LIVE, type Message, next, post } from "../helpers/relay-resume.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type TestSocket, waitFor } from "../helpers/ws.ts";

interface Setup {
  server: TestServer;
  relay: RelayFixture;
  token: Credentials;
  [Symbol.asyncDispose](): Promise<void>;
}

interface Mode {
  name: string;
  available: boolean;
  setup(env?: Record<string, string>): Promise<Setup>;
}

let redis: TestRedis | null = null;
const modes: Mode[] = [
  {
    name: "embedded",
    available: true,
    async setup(env = {}) {
      const server = await startTestServer({ env });
      const relay = await relayFixture(server);
      return {
        server,
        relay,
        token: await relay.createToken(),
        async [Symbol.asyncDispose]() {
          await relay[Symbol.asyncDispose]();
          await server[Symbol.asyncDispose]();
        },
      };
    },
  },
  {
    name: "cluster (Redis)",
    available: redisAvailable,
    async setup(env = {}) {
      if (redis === null) throw new Error("Redis is not running");
      const cluster = await startRelayCluster(redis, 1, env);
      const [server] = cluster.instances as [TestServer];
      const [relay] = cluster.fixtures as [RelayFixture];
      return {
        server,
        relay,
        token: await relay.createToken(),
        [Symbol.asyncDispose]: () => cluster[Symbol.asyncDispose](),
      };
    },
  },
];

beforeAll(async () => {
  if (redisAvailable) redis = await startRedis();
});
afterAll(async () => {
  await redis?.[Symbol.asyncDispose]();
});

/**
 * A well-formed cursor certainly of another store: an epoch cursor whose epoch differs from this one's own
 * first 8 characters, and holds a letter, which no Redis stream id does.
 */
function foreignCursor(cursor: string): string {
  const epoch = cursor.slice(0, 8);
  return `${epoch.startsWith("a") ? "b" : "a"}${epoch.slice(1)}-5`;
}

for (const mode of modes) {
  describe.skipIf(!mode.available)(`relay resume contract: ${mode.name}`, () => {
    test("a cursor continues right after it: what was stored meanwhile once, in order, then live", async () => {
      await using t = await mode.setup();
      const a = await t.relay.createBucket("a");
      const b = await t.relay.createBucket("b");
      const c = await t.relay.createBucket("c");
      const first = await t.relay.subscribed(t.token, ["a", "b"]);
      await post(t.relay, a, "a1");
      await post(t.relay, b, "b1");
      const seen = (await first.take(2)).map((raw) => JSON.parse(raw) as WebhookMessage);
      expect(seen.map((m) => m.body)).toEqual(["a1", "b1"]);
      first.close();
      await first.closed;

      for (const [bucket, body] of [
        [a, "a2"],
        [c, "c1"],
        [b, "b2"],
        [a, "a3"],
      ] as const)
        await post(t.relay, bucket, body);
      const resumed = await t.relay.subscribed(t.token, ["a", "b"], seen[1]?.cursor);
      expect(await bodies(resumed, 3)).toEqual(["a2", "b2", "a3"]);
      expect(await next(resumed)).toEqual(LIVE);
      await post(t.relay, c, "c2");
      await post(t.relay, b, "b3");
      await post(t.relay, a, "a4");
      expect(await bodies(resumed, 2)).toEqual(["b3", "a4"]);
      expect(resumed.pending()).toBe(0);
    });

    test("the seam: resuming while deliveries keep arriving gives each exactly once, in store order", async () => {
      await using t = await mode.setup();
      const a = await t.relay.createBucket("a");
      const b = await t.relay.createBucket("b");
      await post(t.relay, a, "start");
      const [start] = await t.relay.store.listDeliveries(a.id, null, 1);
      const { cursors } = await t.relay.store.deliveryPosition();
      const startCursor = cursors.format(cursors.positionOf(start?.id ?? ""));

      // Senders keep both buckets busy while clients resume from the start, one after another.
      let sending = true;
      let sent = 0;
      const senders = Array.from({ length: 8 }, async (_, k) => {
        while (sending) {
          const n = sent++;
          await post(t.relay, (n + k) % 3 === 0 ? b : a, `n${n}`);
        }
      });
      const clients: Array<{ socket: TestSocket; received: WebhookMessage[]; live: boolean }> = [];
      for (let i = 0; i < 6; i++) {
        await Bun.sleep(60);
        const socket = await t.relay.subscribed(t.token, ["a"], startCursor);
        const client = { socket, received: [] as WebhookMessage[], live: false };
        socket.socket.addEventListener("message", (event) => {
          const message = JSON.parse(String(event.data)) as Message;
          if (message.type === "webhook") client.received.push(message);
          else if (message.status === "live") {
            expect(client.live).toBe(false);
            client.live = true;
          }
        });
        clients.push(client);
      }
      await Bun.sleep(100);
      sending = false;
      await Promise.all(senders);
      await post(t.relay, a, "sentinel");

      const stored = await t.relay.store.listDeliveries(a.id, start?.id ?? null, 100_000);
      expect(stored.length).toBeGreaterThan(100);
      expect(stored.at(-1)?.body).toEqual(new TextEncoder().encode("sentinel"));
      for (const client of clients) {
        await waitFor(
          () => client.received.at(-1)?.body === "sentinel",
          10_000,
          "sentinel at a resumed client",
        );
        // The sentinel may be the replay's last delivery, with the live status right behind it.
        await waitFor(() => client.live, 10_000, "the live status at a resumed client");
        expect(client.received.map((m) => m.meta.id)).toEqual(stored.map((d) => d.id));
        client.socket.close();
      }
    }, 30_000);

    // 32 MiB of recent deliveries hold everything the test sends, whatever the paused socket's kernel buffers
    // take first; with none, every page comes from the store.
    for (const [from, recentBytes] of [
      ["memory", 32 * 1024 * 1024],
      ["store", 0],
    ] as const)
      test(`a socket that lags is caught up from ${from === "memory" ? "the deliveries in memory" : "the store"}: each once, in order, then live`, async () => {
        // A small lag room, so a client that stops reading leaves the live topics after a few deliveries.
        await using t = await mode.setup({
          WS_BACKPRESSURE_LIMIT_BYTES: "8388608",
          RELAY_LAG_BYTES: "65536",
          RELAY_RECENT_BYTES: String(recentBytes),
        });
        const hooks = await t.relay.createBucket("hooks");
        const other = await t.relay.createBucket("other");
        const lagging = await rawRelayClient(t.server, t.token, ["hooks"]);
        lagging.pause();
        // Posted until the socket lags, and 20 more: the paused socket's kernel buffers take a few MB first.
        // Every fourth goes to a bucket it did not subscribe to.
        const sent: string[] = [];
        let lagged = -1;
        for (let i = 0; lagged === -1 || i < lagged + 20; i++) {
          const body = `${String(i).padStart(4, "0")}:${"x".repeat(10_000)}`;
          await post(t.relay, i % 4 === 3 ? other : hooks, body);
          if (i % 4 !== 3) sent.push(body);
          if (lagged === -1 && i % 10 === 9 && (await relayHealth(t.server)).lag_events > 0) lagged = i;
          if (i > 2400) throw new Error("the paused socket never lagged");
        }
        console.log(`lagging socket: lagged after ${lagged + 1} deliveries`);
        lagging.resume();
        const webhooks = () => rawWebhooks(lagging);
        await waitFor(() => webhooks().length >= sent.length, 20_000, "the lagging socket caught up");
        expect(webhooks().map((m) => m.body.slice(0, 4))).toEqual(sent.map((body) => body.slice(0, 4)));
        await waitFor(async () => (await relayHealth(t.server)).catching_up === 0, 5000, "live again");
        const health = await relayHealth(t.server);
        const pages = { memory: health.catch_up_pages_from_memory, store: health.catch_up_pages_from_store };
        expect(pages[from]).toBeGreaterThanOrEqual(1);
        expect(pages[from === "memory" ? "store" : "memory"]).toBe(0);
        if (from === "memory") expect(health.recent_deliveries_bytes).toBeGreaterThan(300 * 10_000);
        else expect(health.recent_deliveries_bytes).toBe(0);
        const scraped = await scrape(t.server);
        for (const where of ["memory", "store"] as const)
          expect(sample(scraped, `hookstream_relay_catch_up_pages_total{from="${where}"}`)).toBe(
            pages[where],
          );
        expect(sample(scraped, "hookstream_relay_recent_deliveries_bytes")).toBe(
          health.recent_deliveries_bytes,
        );
        // Live once more: the next delivery arrives once, after the others.
        await post(t.relay, hooks, "after");
        await waitFor(() => webhooks().at(-1)?.body === "after", 5000, "a live delivery");
        expect(webhooks()).toHaveLength(sent.length + 1);
        expect(lagging.close).toBeNull();
        lagging.end();
      }, 30_000);

    test("subscribing again with a cursor replaces the subscription and replays the new buckets", async () => {
      await using t = await mode.setup();
      const a = await t.relay.createBucket("a");
      const b = await t.relay.createBucket("b");
      const socket = await t.relay.subscribed(t.token, ["a"]);
      await post(t.relay, b, "b1");
      await post(t.relay, a, "a1");
      const a1 = JSON.parse(await socket.next()) as WebhookMessage;
      expect(a1.body).toBe("a1");
      await post(t.relay, b, "b2");
      const origin = (await t.relay.store.deliveryPosition()).cursors.format(0);
      socket.send(JSON.stringify({ action: "subscribe", buckets: ["b"], cursor: origin }));
      expect(await next(socket)).toMatchObject({ status: "subscribed", message: "subscribed to buckets: b" });
      expect(await bodies(socket, 2)).toEqual(["b1", "b2"]);
      expect(await next(socket)).toEqual(LIVE);
      await post(t.relay, a, "a2");
      await post(t.relay, b, "b3");
      expect(await bodies(socket, 1)).toEqual(["b3"]);
    });

    test("a cursor from another database gets one gap status, then the oldest retained deliveries", async () => {
      await using t = await mode.setup();
      const a = await t.relay.createBucket("a");
      const live = await t.relay.subscribed(t.token, ["a"]);
      await post(t.relay, a, "1");
      await post(t.relay, a, "2");
      const [one] = (await live.take(2)).map((raw) => JSON.parse(raw) as WebhookMessage);
      const foreign = foreignCursor(one?.cursor ?? "");
      const socket = await t.relay.subscribed(t.token, ["a"], foreign);
      expect(await next(socket)).toEqual({
        type: "status",
        status: "gap",
        message: "cursor unknown to this relay (from another server or a reset database)",
        requested: foreign,
        resumed_from: one?.cursor,
      });
      expect(await bodies(socket, 2)).toEqual(["1", "2"]);
      expect(await next(socket)).toEqual(LIVE);
      expect((await relayHealth(t.server)).gaps_reported).toBe(1);
    });

    test("a malformed cursor gets an error status and the subscription stays as it was", async () => {
      await using t = await mode.setup();
      const a = await t.relay.createBucket("a");
      await t.relay.createBucket("b");
      const socket = await t.relay.subscribed(t.token, ["a"]);
      socket.send(JSON.stringify({ action: "subscribe", buckets: ["b"], cursor: "1234" }));
      expect(await next(socket)).toEqual({
        type: "status",
        status: "error",
        message: '"cursor" must be the cursor of a webhook message, as received',
      });
      await post(t.relay, a, "still a");
      expect(await bodies(socket, 1)).toEqual(["still a"]);
    });
  });
}
