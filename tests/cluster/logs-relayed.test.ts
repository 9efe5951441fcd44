/**
 * Entries published from elsewhere than the log files (relayed deliveries, `pipeline.publish`) in cluster
 * mode: appended by the instance that has them, streamed by every instance with the cluster's cursors, kept
 * while Redis is away; the writer lease freed at shutdown; and the cluster state the pipeline reports for
 * /health.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClusterLogPipeline, createClusterLogPipeline } from "../../src/cluster/log-pipeline.ts";
import { connectRedis } from "../../src/cluster/redis.ts";
import type { LiveMember } from "../../src/logs/log-hub.ts";
import { loadConfig } from "../../src/process/config.ts";
import { leaseHolder, suiteRedis, uniquePrefix } from "../helpers/cluster.ts";
import { makeEntry } from "../helpers/entries.ts";
import { redisAvailable, type TestRedis } from "../helpers/redis.ts";
import { quietLog } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

interface Instance {
  pipeline: ClusterLogPipeline;
  /** Payloads published to the catch-all topic, in order. */
  received: string[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A log pipeline in cluster mode, without the HTTP server around it. */
async function startPipeline(redis: TestRedis, prefix: string, options: { seesLogDir: boolean }) {
  const dataDir = mkdtempSync(join(tmpdir(), "hookstream-pipeline-"));
  const logDir = join(dataDir, "logs");
  if (options.seesLogDir) mkdirSync(logDir);
  const loaded = loadConfig({
    DATA_DIR: dataDir,
    LOG_DIR: logDir,
    LOG_POLL_INTERVAL_MS: "50",
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: prefix,
    CLUSTER_LEASE_MS: "1000",
  });
  if (!loaded.ok) throw new Error(loaded.problems.join("; "));
  const connection = await connectRedis({ url: redis.url, log: quietLog });
  const received: string[] = [];
  const pipeline = await createClusterLogPipeline(
    loaded.config,
    (_topic, payload) => received.push(payload),
    quietLog,
    {
      redis: connection,
      settings: loaded.config.cluster as NonNullable<typeof loaded.config.cluster>,
      instanceId: crypto.randomUUID(),
    },
  );
  const member: LiveMember = { bufferedAmount: () => 0, onLag() {} };
  pipeline.hub.subscribe({}, member);
  await pipeline.start();
  let closed = false;
  const instance: Instance = {
    pipeline,
    received,
    async close() {
      if (closed) return;
      closed = true;
      // As the server shuts down: stop, close (flushing what waits for Redis), then the connection.
      pipeline.stop();
      await pipeline.close();
      connection.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
    async [Symbol.asyncDispose]() {
      await instance.close();
    },
  };
  return instance;
}

const messages = (instance: Instance) => instance.received.map((payload) => JSON.parse(payload).message);

describe.skipIf(!redisAvailable)("cluster mode: entries published by an instance", () => {
  const redis = suiteRedis();

  test("an entry published on one instance streams once on every instance, with one cursor", async () => {
    const prefix = uniquePrefix();
    await using a = await startPipeline(redis, prefix, { seesLogDir: true });
    await using b = await startPipeline(redis, prefix, { seesLogDir: false });
    b.pipeline.publish(makeEntry({ message: "relayed 1", hook_id: "d-1" }));
    b.pipeline.publish(makeEntry({ message: "relayed 2", hook_id: "d-2" }));
    await waitFor(() => a.received.length === 2 && b.received.length === 2, 5000, "both entries on both");
    expect(a.received).toEqual(b.received);
    expect(messages(a)).toEqual(["relayed 1", "relayed 2"]);
    expect(JSON.parse(a.received[0] as string).cursor).toMatch(/^[0-9a-f]{8}-1$/);
  });

  test("entries published while Redis is down are appended once when it is back", async () => {
    const prefix = uniquePrefix();
    await using a = await startPipeline(redis, prefix, { seesLogDir: true });
    await using b = await startPipeline(redis, prefix, { seesLogDir: false });
    b.pipeline.publish(makeEntry({ message: "before" }));
    await waitFor(() => a.received.length === 1, 5000, "first entry");
    await redis.stop();
    b.pipeline.publish(makeEntry({ message: "while down 1" }));
    b.pipeline.publish(makeEntry({ message: "while down 2" }));
    await waitFor(() => b.pipeline.stats()?.relayQueued === 2, 5000, "entries queued");
    await redis.start();
    await waitFor(() => a.received.length === 3 && b.received.length === 3, 10_000, "queued entries");
    expect(messages(a)).toEqual(["before", "while down 1", "while down 2"]);
    expect(b.received).toEqual(a.received);
    // The queue empties when b reads the append's reply, which may come after the mirrors streamed it.
    await waitFor(
      () => b.pipeline.stats()?.relayQueued === 0,
      5000,
      "b's queue emptied by the append's reply",
    );
    expect(b.pipeline.stats()?.relayQueued).toBe(0);
  }, 20_000);

  test("entries published just before shutdown are appended before the connection closes", async () => {
    const prefix = uniquePrefix();
    await using a = await startPipeline(redis, prefix, { seesLogDir: true });
    const b = await startPipeline(redis, prefix, { seesLogDir: false });
    for (let i = 0; i < 3; i++) b.pipeline.publish(makeEntry({ message: `last ${i}` }));
    await b.close();
    await waitFor(() => a.received.length === 3, 3000, "entries mirrored by the other instance");
    expect(messages(a)).toEqual(["last 0", "last 1", "last 2"]);
  }, 10_000);

  test("a clean shutdown releases the writer lease before the connection closes", async () => {
    const prefix = uniquePrefix();
    const a = await startPipeline(redis, prefix, { seesLogDir: true });
    expect(await leaseHolder(redis, prefix)).toBe(a.pipeline.stats()?.instanceId as string);
    await a.close();
    // Freed now, not left to expire: another instance takes over at its next tick.
    expect(await leaseHolder(redis, prefix)).toBeNull();
  });

  test("a shutdown while Redis is away gives up on the queued entries after its time limit", async () => {
    const prefix = uniquePrefix();
    const b = await startPipeline(redis, prefix, { seesLogDir: false });
    await redis.stop();
    try {
      b.pipeline.publish(makeEntry({ message: "never appended" }));
      await waitFor(() => b.pipeline.stats()?.redisUp === false, 5000, "Redis seen away");
      const started = Date.now();
      await b.close();
      // CLOSE_FLUSH_MS (2 s), and not much more.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await redis.start();
    }
  }, 15_000);

  test("stats() says who writes, who holds the lease and how far each mirror is", async () => {
    const prefix = uniquePrefix();
    await using a = await startPipeline(redis, prefix, { seesLogDir: true });
    await using b = await startPipeline(redis, prefix, { seesLogDir: false });
    a.pipeline.publish(makeEntry({ message: "one" }));
    await waitFor(() => b.received.length === 1, 5000, "entry mirrored");
    const writer = a.pipeline.stats();
    const reader = b.pipeline.stats();
    expect(writer).toMatchObject({ writer: true, redisUp: true, mirroredSeq: 1 });
    expect(reader).toMatchObject({ writer: false, leaseHolder: writer?.instanceId, redisUp: true });
    expect(reader?.epoch).toBe(writer?.epoch as string);
    await waitFor(() => b.pipeline.stats()?.streamSeq === 1, 5000, "stream seq seen");
    expect(b.pipeline.stats()).toMatchObject({ mirroredSeq: 1, streamSeq: 1, mirrorLag: 0 });
  });
});
