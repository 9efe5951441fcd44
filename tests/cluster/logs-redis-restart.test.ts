/**
 * Redis goes away mid-stream: instances keep their clients connected, and once Redis is back everything
 * resumes by itself — the lines written meanwhile arrive once each, in order, on every instance.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendTo, sharedLogDir, startInstance, uniquePrefix } from "../helpers/cluster.ts";
import { connectLogs, jsonLine, seqOf, textLine } from "../helpers/logs.ts";
import { redisAvailable, startRedis, type TestRedis } from "../helpers/redis.ts";
import type { TestSocket } from "../helpers/ws.ts";

const LEASE_MS = 1000;

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

async function takeSeqs(client: TestSocket, count: number, timeoutMs = 20_000): Promise<number[]> {
  const seqs = (await client.take(count, timeoutMs)).map(seqOf);
  expect(client.pending()).toBe(0);
  return seqs;
}

describe.skipIf(!redisAvailable)("cluster mode: Redis restarts", () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis[Symbol.asyncDispose]();
  });

  test("lines written while Redis is down arrive once on every instance when it is back", async () => {
    const prefix = uniquePrefix();
    using logs = sharedLogDir();
    appendTo(logs.path, "server.log", "");
    appendTo(logs.path, "webhooks.json", "");
    await using a = await startInstance(redis, prefix, { logDir: logs.path, leaseMs: LEASE_MS });
    await using b = await startInstance(redis, prefix, { logDir: logs.path, leaseMs: LEASE_MS });
    const clients = [await connectLogs(a), await connectLogs(b)];
    const write = (from: number, to: number) => {
      for (let seq = from; seq < to; seq++)
        appendTo(
          logs.path,
          seq % 2 ? "webhooks.json" : "server.log",
          (seq % 2 ? jsonLine : textLine)({ seq }),
        );
    };
    write(0, 50);
    for (const client of clients)
      expect((await takeSeqs(client, 50)).sort((x, y) => x - y)).toEqual(range(0, 50));

    await redis.stop();
    write(50, 100);
    // Longer than the lease: the writer's lease expires while Redis is away.
    await Bun.sleep(LEASE_MS + 200);
    write(100, 150);
    for (const client of clients) expect(client.pending()).toBe(0);
    await redis.start();

    const seen = [];
    for (const client of clients) seen.push(await takeSeqs(client, 100));
    for (const seqs of seen) expect([...seqs].sort((x, y) => x - y)).toEqual(range(50, 150));
    // The same order on both: the cluster's.
    expect(seen[1]).toEqual(seen[0] as number[]);
    write(150, 151);
    for (const client of clients) expect(await takeSeqs(client, 1)).toEqual([150]);
    // Connected all along.
    for (const client of clients) expect(client.socket.readyState).toBe(WebSocket.OPEN);
    for (const client of clients) client.close();
  }, 60_000);
});
