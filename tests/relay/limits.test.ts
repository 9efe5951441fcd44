/**
 * Limits and bad input on the relay, each with its clear outcome: a subscribe flood, oversized frames, too
 * many sockets waiting to authenticate, and a full disk while storing a delivery.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_QUEUED_FRAMES, MAX_SUBSCRIBES_PER_WINDOW } from "../../src/relay/protocol.ts";
import { MAX_PENDING_AUTH } from "../../src/relay/sessions.ts";
import { suiteRedis } from "../helpers/cluster.ts";
import { type RawWebSocket, rawConnect } from "../helpers/raw-ws.ts";
import { redisAvailable } from "../helpers/redis.ts";
import {
  type CreatedBucket,
  maskedFrame,
  type RelayFixture,
  relayFixture,
  relayHealth,
} from "../helpers/relay.ts";
import { startRelayCluster } from "../helpers/relay-cluster.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type TestSocket, waitFor, wsConnect } from "../helpers/ws.ts";

const inputOf = (bucket: CreatedBucket) => (bucket.inputs[0] as { id: string }).id;

/** Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN), found by trying. */
const canMountTmpfs = (() => {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), "hookstream-mount-probe-"));
  try {
    if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]).status !== 0) return false;
    return spawnSync("umount", [probe]).status === 0;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();

describe("subscribe flood", () => {
  test(`past ${MAX_SUBSCRIBES_PER_WINDOW} subscribes a second: an error each, the connection and subscription stay`, async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const a = await relay.createBucket("a");
    await relay.createBucket("b");
    const socket = await relay.authenticated(await relay.createToken());
    // 15 back to back: within the 16 frames that may wait behind a lookup, whatever the timing.
    for (let i = 0; i < 15; i++)
      socket.send(
        JSON.stringify({ action: "subscribe", buckets: [i < MAX_SUBSCRIBES_PER_WINDOW ? "a" : "b"] }),
      );
    const answers = await socket.take(15);
    const statuses = answers.map((raw) => (JSON.parse(raw) as { status: string }).status);
    expect(statuses).toEqual([
      ...Array.from({ length: MAX_SUBSCRIBES_PER_WINDOW }, () => "subscribed"),
      ...Array.from({ length: 15 - MAX_SUBSCRIBES_PER_WINDOW }, () => "error"),
    ]);
    expect(JSON.parse(answers.at(-1) as string)).toEqual({
      type: "status",
      status: "error",
      message: `too many subscribes: at most ${MAX_SUBSCRIBES_PER_WINDOW} per second; the current subscription stays`,
    });
    // Still subscribed to a, not b.
    expect((await relay.post(inputOf(a), "to a")).status).toBe(200);
    expect(((await socket.nextJson()) as { body: string }).body).toBe("to a");
    // The next window accepts subscribes again.
    await Bun.sleep(1000);
    socket.send(JSON.stringify({ action: "subscribe", buckets: ["b"] }));
    expect(await socket.nextJson()).toMatchObject({
      status: "subscribed",
      message: "subscribed to buckets: b",
    });
  });

  test("200 subscribes in one write: ten served, the rest refused one by one, the connection stays", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const a = await relay.createBucket("a");
    const token = await relay.createToken();
    const client = await rawConnect(server.server.port as number, "/v1/socket");
    // Every frame in a single TCP write, so the server reads them all at once.
    const frames = [
      JSON.stringify({ action: "auth", ...token }),
      ...Array.from({ length: 200 }, () => JSON.stringify({ action: "subscribe", buckets: ["a"] })),
    ];
    client.socket.write(Buffer.concat(frames.map(maskedFrame)));
    await waitFor(() => client.messages.length === 201, 5000, "every frame answered");
    const statuses = client.messages.map((raw) => (JSON.parse(raw) as { status: string }).status);
    expect(statuses.filter((status) => status === "subscribed")).toHaveLength(MAX_SUBSCRIBES_PER_WINDOW);
    expect(statuses.filter((status) => status === "error")).toHaveLength(200 - MAX_SUBSCRIBES_PER_WINDOW);
    expect(client.close).toBeNull();
    expect((await relay.post(inputOf(a), "still here")).status).toBe(200);
    await waitFor(() => client.messages.length === 202, 5000, "delivery after the flood");
    expect((JSON.parse(client.messages.at(-1) as string) as { body: string }).body).toBe("still here");
    client.end();
  });
});

describe.skipIf(!redisAvailable)("frames waiting for a lookup", () => {
  const redis = suiteRedis();

  // With Redis every credential check is a network round trip, so frames sent with `auth` in one write
  // arrive while it runs and wait; with SQLite the check completes before the next frame is read.
  test(`${MAX_QUEUED_FRAMES} frames behind a running auth are answered; one more closes 1008`, async () => {
    await using cluster = await startRelayCluster(redis, 1);
    const server = cluster.instances[0] as TestServer;
    const token = await cluster.fixtures[0]?.createToken();
    const burst = async (waiting: number) => {
      const client = await rawConnect(server.server.port as number, "/v1/socket");
      const frames = [
        JSON.stringify({ action: "auth", ...token }),
        ...Array.from({ length: waiting - 1 }, () => JSON.stringify({ action: "pong" })),
        JSON.stringify({ action: "subscribe" }),
      ];
      client.socket.write(Buffer.concat(frames.map(maskedFrame)));
      await waitFor(() => client.messages.length >= 2 || client.close !== null, 5000, "answers or a close");
      return client;
    };
    const within = await burst(MAX_QUEUED_FRAMES);
    expect(within.close).toBeNull();
    expect(within.messages.map((raw) => (JSON.parse(raw) as { status: string }).status)).toEqual([
      "authenticated",
      "subscribed",
    ]);
    within.end();
    const over = await burst(MAX_QUEUED_FRAMES + 1);
    expect(over.close).toEqual({ code: 1008, reason: "too many messages without waiting" });
    expect(over.messages).toEqual([]);
  });
});

describe("frame size", () => {
  test("a frame over WS_MAX_PAYLOAD_BYTES closes 1009, before and after authentication", async () => {
    await using server = await startTestServer({ env: { WS_MAX_PAYLOAD_BYTES: "1024" } });
    await using relay = await relayFixture(server);
    const token = await relay.createToken();
    const before = await wsConnect(server.wsUrl("/v1/socket"));
    before.send(JSON.stringify({ action: "auth", ...token, padding: "x".repeat(2000) }));
    expect((await before.closed).code).toBe(1009);
    const after = await relay.authenticated(token);
    after.send(
      JSON.stringify({ action: "subscribe", buckets: Array.from({ length: 200 }, (_, i) => `b${i}`) }),
    );
    expect((await after.closed).code).toBe(1009);
    // Just under the limit is an ordinary frame: an unknown bucket gets an error status.
    const ok = await relay.authenticated(token);
    const frame = JSON.stringify({ action: "subscribe", buckets: ["x".repeat(900)] });
    expect(frame.length).toBeLessThan(1024);
    ok.send(frame);
    expect(await ok.nextJson()).toMatchObject({ status: "error" });
    await waitFor(async () => (await relayHealth(server)).authenticated === 1, 5000, "others closed");
  });
});

describe("sockets waiting to authenticate", () => {
  test(`past ${MAX_PENDING_AUTH} sockets waiting for auth, the next is closed 1013; a freed slot admits one`, async () => {
    await using server = await startTestServer({
      env: { MAX_CONNECTIONS_PER_IP: "10000", RELAY_AUTH_TIMEOUT_MS: "120000" },
    });
    await using relay = await relayFixture(server);
    const token = await relay.createToken();
    const waiting: RawWebSocket[] = [];
    try {
      for (let i = 0; i < MAX_PENDING_AUTH; i += 256) {
        const batch = Array.from({ length: Math.min(256, MAX_PENDING_AUTH - i) }, () =>
          rawConnect(server.server.port as number, "/v1/socket"),
        );
        waiting.push(...(await Promise.all(batch)));
      }
      await waitFor(
        async () => (await relayHealth(server)).pending_auth === MAX_PENDING_AUTH,
        10_000,
        "all waiting",
      );
      const refused = await wsConnect(server.wsUrl("/v1/socket"));
      expect(await refused.closed).toEqual({
        code: 1013,
        reason: "too many connections waiting to authenticate",
      });
      expect((await relayHealth(server)).pending_auth).toBe(MAX_PENDING_AUTH);

      waiting.pop()?.end();
      await waitFor(
        async () => (await relayHealth(server)).pending_auth === MAX_PENDING_AUTH - 1,
        5000,
        "a slot freed",
      );
      const admitted = await relay.authenticated(token);
      expect((await relayHealth(server)).authenticated).toBe(1);
      admitted.close();
    } finally {
      for (const client of waiting) client.end();
    }
  }, 60_000);
});

describe("a full disk while storing a delivery", () => {
  /** Posts 20 kB deliveries to `bucket` until one is refused; returns the accepted bodies and the refusal. */
  async function fillUntilRefused(relay: RelayFixture, bucket: CreatedBucket, label: string) {
    const accepted: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const body = `${label}-${i}:${"x".repeat(20_000)}`;
      const response = await relay.post(inputOf(bucket), body);
      if (response.status !== 200) return { accepted, refused: response, refusedBody: body };
      accepted.push(body);
    }
    throw new Error("the store never filled up");
  }

  async function expectStorageFull(response: Response) {
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("30");
    expect(await response.json()).toEqual({ error: "Storage full: the delivery was not stored" });
  }

  /** Bodies stored for the bucket, read through the fixture's own connection. */
  const storedBodies = async (relay: RelayFixture, bucket: CreatedBucket) =>
    (await relay.store.listDeliveries(bucket.id, null, 10_000)).map((d) => new TextDecoder().decode(d.body));

  test("at RELAY_MAX_DATABASE_BYTES the sender gets 503, nothing is half-written, and freed space works again", async () => {
    await using server = await startTestServer({ env: { RELAY_MAX_DATABASE_BYTES: String(1024 * 1024) } });
    await using relay = await relayFixture(server);
    const a = await relay.createBucket("a");
    const filler = await relay.createBucket("filler");
    const socket = await relay.subscribed(await relay.createToken(), ["a", "filler"]);

    const { accepted, refused, refusedBody } = await fillUntilRefused(relay, filler, "filler");
    await expectStorageFull(refused);
    expect(accepted.length).toBeGreaterThan(10);
    // A small delivery that would need a new page is refused as well; one batch of several is all or nothing.
    const together = await Promise.all(
      Array.from({ length: 5 }, (_, i) => relay.post(inputOf(a), `a-${i}:${"y".repeat(20_000)}`)),
    );
    for (const response of together) await expectStorageFull(response);

    expect(await storedBodies(relay, filler)).toEqual(accepted);
    expect(await storedBodies(relay, a)).toEqual([]);
    expect(accepted).not.toContain(refusedBody);
    // Subscribers got exactly the accepted deliveries.
    const relayed = (await socket.take(accepted.length)).map(
      (raw) => (JSON.parse(raw) as { body: string }).body,
    );
    expect(relayed).toEqual(accepted);
    expect((await relayHealth(server)).deliveries_failed).toBeGreaterThanOrEqual(6);

    // Deleting the filler bucket frees its pages: the next delivery is stored and relayed.
    expect((await relay.api("DELETE", "/v1/buckets/filler")).status).toBe(204);
    expect((await relay.post(inputOf(a), "after")).status).toBe(200);
    expect(((await socket.nextJson()) as { body: string }).body).toBe("after");
    expect(await storedBodies(relay, a)).toEqual(["after"]);
  }, 30_000);

  test.skipIf(!canMountTmpfs)(
    `on a real full disk (a 384 KiB tmpfs) the sender gets 503 and freeing space lets the next one in${canMountTmpfs ? "" : " — skipped: mounting a tmpfs needs root with CAP_SYS_ADMIN"}`,
    async () => {
      const mount = mkdtempSync(join(tmpdir(), "hookstream-tiny-"));
      const dataDir = mkdtempSync(join(tmpdir(), "hookstream-test-"));
      expect(spawnSync("mount", ["-t", "tmpfs", "-o", "size=384k", "tmpfs", mount]).status).toBe(0);
      try {
        // Only the database lives on the tiny disk (SQLite follows the link for its WAL too).
        writeFileSync(join(mount, "spare"), new Uint8Array(96 * 1024));
        symlinkSync(join(mount, "hookstream.db"), join(dataDir, "hookstream.db"));
        mkdirSync(join(dataDir, "logs"));
        await using server = await startTestServer({ dataDir });
        await using relay = await relayFixture(server);
        const a = await relay.createBucket("a");
        const socket: TestSocket = await relay.subscribed(await relay.createToken(), ["a"]);

        const { accepted, refused, refusedBody } = await fillUntilRefused(relay, a, "a");
        await expectStorageFull(refused);
        expect(accepted.length).toBeGreaterThan(0);
        const relayed = (await socket.take(accepted.length)).map(
          (raw) => (JSON.parse(raw) as { body: string }).body,
        );
        expect(relayed).toEqual(accepted);

        rmSync(join(mount, "spare"));
        const after = await relay.post(inputOf(a), "after");
        expect(after.status).toBe(200);
        expect(((await socket.nextJson()) as { body: string }).body).toBe("after");
        const stored = await storedBodies(relay, a);
        expect(stored).toEqual([...accepted, "after"]);
        expect(stored).not.toContain(refusedBody);
        await server.shutdown();
        const check = new Database(join(dataDir, "hookstream.db"), { readonly: true });
        expect(check.query<{ n: number }, []>("SELECT count(*) AS n FROM deliveries").get()?.n).toBe(
          accepted.length + 1,
        );
        check.close();
      } finally {
        spawnSync("umount", [mount]);
        rmSync(mount, { recursive: true, force: true });
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
    30_000,
  );
});
