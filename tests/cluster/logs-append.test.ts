/**
 * The append script and the appender of relayed entries against a real Redis: a batch that fails writes
 * nothing and is appended by its retry; a batch whose reply was lost is not appended twice.
 */
import { describe, expect, test } from "bun:test";
import { createLogAppender, type LogAppender } from "../../src/cluster/log-append.ts";
import { APPEND_SCRIPT, appendArgs, type LogKeys, logKeys } from "../../src/cluster/log-scripts.ts";
import { connectRedis, type Redis } from "../../src/cluster/redis.ts";
import { suiteRedis, uniquePrefix } from "../helpers/cluster.ts";
import { redisAvailable, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/ws.ts";

interface Appender {
  appender: LogAppender;
  keys: LogKeys;
  warnings: string[];
  [Symbol.asyncDispose](): Promise<void>;
}

async function openConnection(redis: TestRedis) {
  const connection = await connectRedis({ url: redis.url, log: () => {} });
  return {
    redis: connection,
    async [Symbol.asyncDispose]() {
      connection.close();
    },
  };
}

async function startAppender(redis: TestRedis): Promise<Appender> {
  const connection: Redis = await connectRedis({ url: redis.url, log: () => {} });
  const keys = logKeys(uniquePrefix());
  const warnings: string[] = [];
  const appender = createLogAppender({
    redis: connection,
    keys,
    instanceId: crypto.randomUUID(),
    maxEntries: 1000,
    masked: false,
    minSeq: () => 0,
    log: (level, message) => {
      if (level !== "info") warnings.push(message);
    },
  });
  return {
    appender,
    keys,
    warnings,
    async [Symbol.asyncDispose]() {
      await appender.close();
      connection.close();
    },
  };
}

/** One entry appended by the script, without a lease, under the batch marker `marker`. */
function appendOne(
  redis: Redis,
  keys: LogKeys,
  marker: string,
  batch: { batchId: string; entry: string; previousBatchId?: string; set?: Array<[string, string]> },
) {
  return redis.eval(
    APPEND_SCRIPT,
    [keys.stream, keys.seq, keys.epoch, keys.writer, keys.positions, marker],
    appendArgs({
      lease: "",
      candidateEpoch: "0123abcd",
      minSeq: 0,
      maxEntries: 1000,
      batchId: batch.batchId,
      markerTtlMs: 60_000,
      entries: [batch.entry],
      masked: false,
      set: batch.set ?? [],
      remove: [],
      ...(batch.previousBatchId === undefined ? {} : { previousBatchId: batch.previousBatchId }),
    }),
  );
}

describe.skipIf(!redisAvailable)("cluster mode: appending relayed entries", () => {
  const redis = suiteRedis();

  const failures: Array<{
    name: string;
    break(keys: LogKeys): Promise<void>;
    repair(keys: LogKeys): Promise<void>;
  }> = [
    {
      name: "the stream key holds another type",
      async break(keys) {
        await redis.cli("SET", keys.stream, "not a stream");
      },
      async repair(keys) {
        await redis.cli("DEL", keys.stream);
      },
    },
    {
      name: "the stream is past the seq counter",
      async break(keys) {
        await redis.cli("XADD", keys.stream, "100-0", "e", "{}");
        await redis.cli("SET", keys.seq, "5");
      },
      async repair(keys) {
        await redis.cli("SET", keys.seq, "100");
      },
    },
    {
      name: "the stream once held an entry past the seq counter, since deleted",
      async break(keys) {
        await redis.cli("XADD", keys.stream, "100-0", "e", "{}");
        await redis.cli("XDEL", keys.stream, "100-0");
        await redis.cli("SET", keys.seq, "5");
      },
      async repair(keys) {
        await redis.cli("SET", keys.seq, "100");
      },
    },
  ];
  for (const failure of failures)
    test(`a batch that fails (${failure.name}) writes nothing, and its retry is appended`, async () => {
      await using a = await startAppender(redis);
      const { keys } = a;
      await redis.cli("SET", keys.epoch, "0123abcd");
      await failure.break(keys);
      const seqBefore = await redis.cli("GET", keys.seq);
      a.appender.append('{"message":"relayed"}');
      await waitFor(() => a.warnings.length > 0, 2000, "the failed append");
      // Nothing of the batch is in Redis: no seq taken.
      expect(await redis.cli("GET", keys.seq)).toBe(seqBefore);
      await failure.repair(keys);
      await waitFor(() => a.appender.stats().queued === 0, 3000, "the retry");
      const entries = await redis.cli("XRANGE", keys.stream, "-", "+");
      expect(entries.split("\n").filter((line) => line === '{"message":"relayed"}')).toHaveLength(1);
    });

  test("an instance keeps one batch marker, however many batches it appends", async () => {
    await using a = await startAppender(redis);
    for (let i = 0; i < 5; i++) {
      a.appender.append(`{"message":"batch ${i}"}`);
      await waitFor(() => a.appender.stats().queued === 0, 2000, `batch ${i}`);
    }
    expect(await redis.cli("XLEN", a.keys.stream)).toBe("5");
    const markers = (await redis.cli("KEYS", `${a.keys.stream}:batch:*`)).split("\n").filter(Boolean);
    expect(markers).toHaveLength(1);
    // It expires with the instance gone.
    expect(Number(await redis.cli("PTTL", markers[0] as string))).toBeGreaterThan(0);
  });

  test("a batch sent again after its reply was lost is not appended twice", async () => {
    await using connection = await openConnection(redis);
    const keys = logKeys(uniquePrefix());
    const instanceId = crypto.randomUUID();
    const send = (batchId: string, entry: string) =>
      appendOne(connection.redis, keys, keys.batch(instanceId), { batchId, entry });
    expect(await send("batch-1", "one")).toBe(1);
    expect(await send("batch-1", "one")).toBe(-2);
    expect(await send("batch-2", "two")).toBe(2);
    expect(await send("batch-2", "two")).toBe(-2);
    expect(await redis.cli("XLEN", keys.stream)).toBe("2");
    expect(await redis.cli("GET", keys.batch(instanceId))).toBe("batch-2");
  });

  test("a batch sent behind another is applied only right after it: never alone, never twice", async () => {
    await using connection = await openConnection(redis);
    const keys = logKeys(uniquePrefix());
    const term = "instance/term";
    const send = (batchId: string, previousBatchId: string, entry: string, offset: number) =>
      appendOne(connection.redis, keys, keys.batch(term), {
        batchId,
        entry,
        previousBatchId,
        set: [["file", JSON.stringify({ path: "a.log", offset })]],
      });
    expect(await send("batch-1", "", "one", 10)).toBe(1);
    // Its predecessor never reached Redis: nothing of it is written, neither entry nor position nor marker.
    expect(await send("batch-3", "batch-2", "three", 30)).toBe(-3);
    expect(await redis.cli("XLEN", keys.stream)).toBe("1");
    expect(JSON.parse(await redis.cli("HGET", keys.positions, "file"))).toEqual({
      path: "a.log",
      offset: 10,
    });
    expect(await redis.cli("GET", keys.batch(term))).toBe("batch-1");
    // Right after its predecessor it is applied; sent again behind the same predecessor, it is refused.
    expect(await send("batch-2", "batch-1", "two", 20)).toBe(2);
    expect(await send("batch-3", "batch-2", "three", 30)).toBe(3);
    expect(await send("batch-2", "batch-1", "two", 20)).toBe(-3);
    expect(await redis.cli("XLEN", keys.stream)).toBe("3");
    expect(JSON.parse(await redis.cli("HGET", keys.positions, "file"))).toEqual({
      path: "a.log",
      offset: 30,
    });
  });
});
