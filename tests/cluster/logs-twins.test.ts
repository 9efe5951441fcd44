/**
 * One record, one entry in cluster mode: the writer pairs the processor's two copies before they reach the
 * shared stream, so every instance streams each record once — also after the writer hands over.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { appendTo, clusterOf, suiteRedis } from "../helpers/cluster.ts";
import { processorWrites } from "../helpers/gws-replay.ts";
import { connectLogs } from "../helpers/logs.ts";
import { redisAvailable } from "../helpers/redis.ts";

const FIXTURE = join(import.meta.dir, "../fixtures/gws-twins");
const FILES = { "webhook-server.log": "", "webhooks_2026-12-02.json": "", "logs_server.log": "" };

describe.skipIf(!redisAvailable)("cluster mode: one record, one entry", () => {
  const redis = suiteRedis();

  test("two instances, a directory written by the processor: 103 records, 103 entries on each", async () => {
    await using cluster = await clusterOf(redis, { instances: 2, files: FILES });
    const [a, b] = [cluster.at(0), cluster.at(1)];
    const onA = await connectLogs(a);
    const onB = await connectLogs(b);
    for (const write of processorWrites(FIXTURE)) appendTo(cluster.logDir, write.file, write.text);
    const seenA = await onA.take(103, 15_000);
    const seenB = await onB.take(103, 15_000);
    expect(seenB).toEqual(seenA);
    await expect(onA.next(300)).rejects.toThrow("no message");
    expect(onB.pending()).toBe(0);
    onA.close();
    onB.close();
  });
});
