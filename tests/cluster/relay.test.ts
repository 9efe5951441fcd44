/**
 * The relay in cluster mode: several instances on one real Redis behave as one relay. A delivery accepted
 * by any instance reaches subscribers on all of them, once, in one order with the same cursors; a client
 * resumes on another instance with its cursor; Redis restarting or an instance dying loses nothing.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { clusterEnv, suiteRedis } from "../helpers/cluster.ts";
import { newDelivery } from "../helpers/deliveries.ts";
import { freePort, redisAvailable } from "../helpers/redis.ts";
import {
  bodyBytes,
  type CreatedBucket,
  type RelayFixture,
  relayFixture,
  runCli,
  type WebhookMessage,
} from "../helpers/relay.ts";
import { openSharedStore, spawnInstance, startRelayCluster } from "../helpers/relay-cluster.ts";
import type { TestServer } from "../helpers/server.ts";
import { type TestSocket, waitFor } from "../helpers/ws.ts";

interface Status {
  type: "status";
  status: string;
  requested?: string;
  resumed_from?: string;
}
type Message = WebhookMessage | Status;

async function healthOf(server: TestServer | undefined): Promise<{ status: string; cluster?: unknown }> {
  if (server === undefined) throw new Error("no such instance");
  return (await (await fetch(server.httpUrl("/health"))).json()) as { status: string; cluster?: unknown };
}

const inputOf = (bucket: CreatedBucket) => (bucket.inputs[0] as { id: string }).id;

async function webhooks(socket: TestSocket, count: number, timeoutMs = 10_000): Promise<WebhookMessage[]> {
  const out: WebhookMessage[] = [];
  while (out.length < count) {
    const message = JSON.parse(await socket.next(timeoutMs)) as Message;
    if (message.type === "webhook") out.push(message);
  }
  return out;
}

/** Stream ids in order: `<ms>-<seq>` compared numerically. */
function streamOrder(cursors: string[]): boolean {
  const key = (cursor: string) => cursor.split("-").map(Number) as [number, number];
  return cursors.every((cursor, index) => {
    if (index === 0) return true;
    const [ms, seq] = key(cursor);
    const [prevMs, prevSeq] = key(cursors[index - 1] as string);
    return ms > prevMs || (ms === prevMs && seq > prevSeq);
  });
}

describe.skipIf(!redisAvailable)("relay across instances", () => {
  const redis = suiteRedis();
  // A test that stopped Redis and failed half-way must not take the next tests down with it.
  afterEach(async () => {
    await redis?.start();
  });

  test("a webhook posted to any instance reaches the subscribers of all three, once, in one order", async () => {
    await using cluster = await startRelayCluster(redis, 3);
    const [a, b, c] = cluster.fixtures as [RelayFixture, RelayFixture, RelayFixture];
    const bucket = await a.createBucket("shared");
    const sockets = await Promise.all(cluster.fixtures.map((f) => f.subscribed(cluster.admin, ["shared"])));
    const sent: string[] = [];
    // Three senders at once, one per instance.
    await Promise.all(
      [a, b, c].map(async (fixture, lane) => {
        for (let i = 0; i < 20; i++) {
          const body = `lane-${lane}-${i}`;
          sent.push(body);
          expect((await fixture.post(inputOf(bucket), body)).status).toBe(200);
        }
      }),
    );
    const received = await Promise.all(sockets.map((socket) => webhooks(socket, 60)));
    const first = received[0] as WebhookMessage[];
    expect(new Set(first.map((m) => m.body))).toEqual(new Set(sent));
    expect(streamOrder(first.map((m) => m.cursor))).toBe(true);
    for (const messages of received) {
      expect(messages.map((m) => [m.cursor, m.meta.id, m.body])).toEqual(
        first.map((m) => [m.cursor, m.meta.id, m.body]),
      );
    }
    // The cursor is the shared stream's entry id.
    expect(first[0]?.cursor).toBe(first[0]?.meta.id);
    expect(first[0]?.cursor).toMatch(/^\d+-\d+$/);
    for (const socket of sockets) expect(socket.pending()).toBe(0);
  });

  test("bodies of any bytes and sizes cross the shared store unchanged, live and when resumed on another instance", async () => {
    // Without deliveries in memory, so the resumed socket reads its pages from Redis.
    await using cluster = await startRelayCluster(redis, 2, { RELAY_RECENT_BYTES: "0" });
    const [a, b] = cluster.fixtures as [RelayFixture, RelayFixture];
    const bucket = await a.createBucket("bytes");
    const live = await b.subscribed(cluster.admin, ["bytes"]);
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0xff, 0xfe, 0x80]);
    const large = new Uint8Array(300_000);
    for (let i = 0; i < large.length; i++) large[i] = (i * 7919) % 256;
    const sent = [png, new Uint8Array(0), new TextEncoder().encode("é ✓ plain"), large];
    for (const body of sent) expect((await a.post(inputOf(bucket), body)).status).toBe(200);
    const received = await webhooks(live, sent.length);
    expect(received.map(bodyBytes)).toEqual(sent);
    // Read again from the start on the instance that accepted them.
    const resumed = await a.subscribed(cluster.admin, ["bytes"], "0-0");
    expect((await webhooks(resumed, sent.length)).map(bodyBytes)).toEqual(sent);
  });

  test("a client resumes on another instance with the cursor the first gave it, losing nothing", async () => {
    await using cluster = await startRelayCluster(redis, 2);
    const [a, b] = cluster.fixtures as [RelayFixture, RelayFixture];
    const bucket = await a.createBucket("resume");
    const onA = await a.subscribed(cluster.admin, ["resume"]);
    for (const body of ["one", "two"]) expect((await b.post(inputOf(bucket), body)).status).toBe(200);
    const seen = await webhooks(onA, 2);
    onA.close();
    await onA.closed;
    for (const body of ["three", "four", "five"])
      expect((await a.post(inputOf(bucket), body)).status).toBe(200);

    const onB = await b.subscribed(cluster.admin, ["resume"], seen[1]?.cursor);
    const missed = await webhooks(onB, 3);
    expect(missed.map((m) => m.body)).toEqual(["three", "four", "five"]);
    expect(JSON.parse(await onB.next())).toMatchObject({ type: "status", status: "live" });
    expect((await a.post(inputOf(bucket), "six")).status).toBe(200);
    expect((await webhooks(onB, 1)).map((m) => m.body)).toEqual(["six"]);
    expect(streamOrder([...seen, ...missed].map((m) => m.cursor))).toBe(true);
  });

  test("a cursor ahead of what this instance has published yet is waited for: nothing arrives twice", async () => {
    await using cluster = await startRelayCluster(redis, 2);
    const [a, b] = cluster.fixtures as [RelayFixture, RelayFixture];
    const bucket = await a.createBucket("ahead");
    const input = inputOf(bucket);
    // A backlog appended straight into the shared stream (as other instances would): B publishes it page by
    // page, and a client arrives on B with the cursor of its last delivery before B got there.
    const backlog = Array.from({ length: 3000 }, (_, i) =>
      newDelivery(bucket.id, `backlog-${i}`, null, input),
    );
    const ids = await cluster.store.appendDeliveries(backlog);
    const last = ids.at(-1)?.id ?? "";
    const onB = await b.subscribed(cluster.admin, ["ahead"], last);
    expect((await a.post(input, "after")).status).toBe(200);
    const first = JSON.parse(await onB.next(10_000)) as Message;
    const second = JSON.parse(await onB.next(10_000)) as Message;
    // Nothing of the backlog: only the one delivery after the cursor (read from the store or live) and the
    // live status, in either order.
    const received = [first, second].map((m) => (m.type === "webhook" ? `webhook ${m.body}` : m.status));
    expect(received.sort()).toEqual(["live", "webhook after"]);
  });

  test("buckets and tokens exist on every instance at once; a revocation on one closes sockets on another", async () => {
    await using cluster = await startRelayCluster(redis, 2);
    const [a, b] = cluster.fixtures as [RelayFixture, RelayFixture];
    await a.createBucket("everywhere");
    const listed = (await (await b.api("GET", "/v1/buckets")).json()) as Array<{ name: string }>;
    expect(listed.map((bucket) => bucket.name)).toContain("everywhere");
    const token = await a.createToken({ buckets: ["everywhere"] });
    const onB = await b.subscribed(token, ["everywhere"]);
    expect((await a.api("DELETE", `/v1/tokens/${token.key}`)).status).toBeLessThan(300);
    expect((await onB.closed).code).toBe(4003);
  });

  test("a revocation made on the shared store from outside closes sockets on every instance at once", async () => {
    // The poll is a minute here: only the announcement on the change channel can close the sockets this soon.
    await using cluster = await startRelayCluster(redis, 2, { RELAY_RECHECK_MS: "60000" });
    const [a, b] = cluster.fixtures as [RelayFixture, RelayFixture];
    await a.createBucket("announced");
    const token = await a.createToken({ buckets: ["announced"] });
    const sockets = [await a.subscribed(token, ["announced"]), await b.subscribed(token, ["announced"])];
    expect(await cluster.store.revokeToken(token.key)).toBe(true);
    const revoked = performance.now();
    for (const socket of sockets) expect((await socket.closed).code).toBe(4003);
    expect(performance.now() - revoked).toBeLessThan(2_000);
  });

  test("a token created with the CLI while REDIS_URL is set works on every instance", async () => {
    await using cluster = await startRelayCluster(redis, 2);
    const created = await runCli(["token", "create", "--json"], clusterEnv(redis, cluster.prefix));
    expect(created.code).toBe(0);
    const token = JSON.parse(created.stdout) as { key: string; secret: string };
    for (const fixture of cluster.fixtures) {
      const socket = await fixture.authenticated({ key: token.key, secret: token.secret });
      socket.close();
    }
  });

  test("Redis restarted mid-stream: inputs answer 503 meanwhile, and every accepted delivery arrives exactly once", async () => {
    await using cluster = await startRelayCluster(redis, 3);
    const [a, b, c] = cluster.fixtures as [RelayFixture, RelayFixture, RelayFixture];
    const bucket = await a.createBucket("restart");
    const watchers = [
      await c.subscribed(cluster.admin, ["restart"]),
      await a.subscribed(cluster.admin, ["restart"]),
    ];
    const accepted: string[] = [];
    const refused: string[] = [];
    let sending = true;
    const sender = (async () => {
      for (let i = 0; sending; i++) {
        const body = `d-${i}`;
        try {
          const response = await (i % 2 === 0 ? a : b).post(inputOf(bucket), body);
          (response.status === 200 ? accepted : refused).push(body);
          if (response.status !== 200) expect(response.status).toBe(503);
        } catch {
          refused.push(body);
        }
        await Bun.sleep(5);
      }
    })();
    await waitFor(() => accepted.length >= 20, 10_000, "deliveries before the restart");
    await redis.stop();
    await waitFor(() => refused.length >= 5, 10_000, "inputs refusing while Redis is down");
    // An instance that only serves sockets notices at its next look at Redis (RELAY_RECHECK_MS).
    await waitFor(
      async () => (await healthOf(cluster.instances[2])).status === "degraded",
      5_000,
      "degraded",
    );
    expect(await healthOf(cluster.instances[2])).toMatchObject({ cluster: { redis: "down" } });
    await redis.start();
    const before = accepted.length;
    await waitFor(() => accepted.length >= before + 20, 20_000, "deliveries accepted after the restart");
    sending = false;
    await sender;

    for (const socket of watchers) {
      const received: WebhookMessage[] = [];
      await waitFor(
        async () => {
          while (socket.pending() > 0) {
            const message = JSON.parse(await socket.next()) as Message;
            if (message.type === "webhook") received.push(message);
          }
          // By body, not by count: a delivery refused as the connection broke may still have been stored
          // and arrive, so a count can be reached while an accepted one is still on its way.
          const arrived = new Set(received.map((m) => m.body));
          return accepted.every((body) => arrived.has(body));
        },
        15_000,
        "every accepted delivery",
      );
      const bodies = received.map((m) => m.body);
      expect(new Set(bodies).size).toBe(bodies.length);
      for (const body of accepted) expect(bodies).toContain(body);
      // What arrived was sent; a refused one may only appear if Redis stored it as the connection broke.
      for (const body of bodies) expect([...accepted, ...refused]).toContain(body);
      expect(streamOrder(received.map((m) => m.cursor))).toBe(true);
      expect(socket.socket.readyState).toBe(WebSocket.OPEN);
    }
    await waitFor(async () => (await healthOf(cluster.instances[0])).status === "ok", 10_000, "health ok");
  }, 60_000);

  test("REUSE_PORT: several processes listen on one port and the kernel spreads connections over them", async () => {
    const prefix = `hs-reuse-${process.pid}:`;
    const port = await freePort();
    const env = { ...clusterEnv(redis, prefix), REUSE_PORT: "true" };
    await using first = await spawnInstance(env, port);
    await using second = await spawnInstance(env, port);
    expect(second.port).toBe(first.port);
    // The second may still be starting (its /health wait was answered by the first): ask until both answer.
    const instances = new Set<string>();
    await waitFor(
      async () => {
        // A new connection each time: the kernel picks the listener per connection.
        const response = await fetch(first.httpUrl("/health"), { headers: { Connection: "close" } });
        const health = (await response.json()) as { cluster: { instance: string } };
        instances.add(health.cluster.instance);
        return instances.size === 2;
      },
      15_000,
      "both instances answering on the shared port",
    );
    expect(instances.size).toBe(2);
  }, 30_000);

  test("an instance killed with SIGKILL: its client reconnects to another and resumes with its cursor", async () => {
    const prefix = `hs-kill-${process.pid}:`;
    const shared = await openSharedStore(redis, prefix);
    try {
      const env = clusterEnv(redis, prefix);
      await using doomed = await spawnInstance(env);
      await using survivor = await spawnInstance(env);
      const onDoomed = await relayFixture(doomed, { store: shared.store });
      const onSurvivor = await relayFixture(survivor, { store: shared.store, admin: onDoomed.admin });
      const bucket = await onSurvivor.createBucket("kill");
      const client = await onDoomed.subscribed(onDoomed.admin, ["kill"]);
      for (const body of ["k1", "k2", "k3"])
        expect((await onSurvivor.post(inputOf(bucket), body)).status).toBe(200);
      const before = await webhooks(client, 3);
      doomed.process.kill("SIGKILL");
      const closed = await client.closed;
      expect(closed.code).not.toBe(1000);
      for (const body of ["k4", "k5"])
        expect((await onSurvivor.post(inputOf(bucket), body)).status).toBe(200);

      const resumed = await onSurvivor.subscribed(onDoomed.admin, ["kill"], before[2]?.cursor);
      expect((await webhooks(resumed, 2)).map((m) => m.body)).toEqual(["k4", "k5"]);
      expect(JSON.parse(await resumed.next())).toMatchObject({ status: "live" });
      expect((await onSurvivor.post(inputOf(bucket), "k6")).status).toBe(200);
      expect((await webhooks(resumed, 1)).map((m) => m.body)).toEqual(["k6"]);
      resumed.close();
    } finally {
      await shared.close();
    }
  }, 60_000);
});
