/**
 * The shared stream holds one entry per append script (its log entries joined, under the last one's seq), and
 * a mirror reads it alongside what an earlier version wrote (one log entry per stream entry): a rolling
 * upgrade's new instances follow a stream that old ones appended to. Trimming is by seq, so the stream keeps
 * about maxEntries log entries whatever the batch sizes, and a mirror that starts after a trim begins at the
 * oldest batch's first entry.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogMirror } from "../../src/cluster/log-mirror.ts";
import { APPEND_SCRIPT, appendArgs, type LogKeys, logKeys } from "../../src/cluster/log-scripts.ts";
import { connectRedis, type Redis } from "../../src/cluster/redis.ts";
import { openJournal } from "../../src/logs/journal.ts";
import { createLogHub, type LogHub } from "../../src/logs/log-hub.ts";
import { suiteRedis, uniquePrefix } from "../helpers/cluster.ts";
import { redisAvailable } from "../helpers/redis.ts";
import { quietLog } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

const EPOCH = "0123abcd";

const entryJson = (message: string) =>
  JSON.stringify({ timestamp: "2026-01-01T00:00:00.000Z", level: "INFO", message });

/** One batch through the append script, without a lease; resolves to the last seq it took. */
async function appendBatch(
  redis: Redis,
  keys: LogKeys,
  messages: string[],
  maxEntries = 1_000_000,
  oneStreamEntryEach = false,
) {
  return await redis.eval(
    APPEND_SCRIPT,
    [keys.stream, keys.seq, keys.epoch, keys.writer, keys.positions],
    appendArgs({
      lease: "",
      candidateEpoch: EPOCH,
      minSeq: 0,
      maxEntries,
      batchId: "",
      markerTtlMs: 60_000,
      entries: messages.map(entryJson),
      masked: false,
      set: [],
      remove: [],
      oneStreamEntryEach,
    }),
  );
}

/**
 * A mirror over a fresh journal that records the seq and message of everything it publishes, and the
 * payloads its one unfiltered subscriber gets (from a hub that masks secrets).
 */
async function startMirror(
  redis: Redis,
  keys: LogKeys,
  before?: (journal: ReturnType<typeof openJournal>) => void,
) {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-format-"));
  const journal = openJournal({ dir, segmentBytes: 1 << 20, maxBytes: 1 << 24, log: quietLog });
  before?.(journal);
  const payloads: string[] = [];
  const hub = createLogHub({ publish: (_topic, payload) => payloads.push(payload), redact: true, journal });
  hub.subscribe({}, { bufferedAmount: () => 0, onLag() {} });
  const published: Array<[number, string]> = [];
  const recording: LogHub = {
    ...hub,
    publish(entry, serialized, masked) {
      published.push([journal.endSeq(), entry.message]);
      hub.publish(entry, serialized, masked);
    },
  };
  const mirror = createLogMirror({ redis, keys, journal, hub: recording, log: quietLog });
  await mirror.start();
  return {
    published,
    payloads,
    mirror,
    [Symbol.dispose]() {
      mirror.close();
      journal.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.skipIf(!redisAvailable)("cluster mode: the shared stream's format", () => {
  const redis = suiteRedis();

  test("a mirror reads one-entry stream entries of an earlier version, then batches, each seq once in order", async () => {
    const connection = await connectRedis({ url: redis.url, log: quietLog });
    const keys = logKeys(uniquePrefix());
    // As an earlier version wrote them: `<seq>-0`, fields ep and e, one log entry each.
    await redis.cli("SET", keys.epoch, EPOCH);
    for (const seq of [1, 2])
      await redis.cli("XADD", keys.stream, `${seq}-0`, "ep", EPOCH, "e", entryJson(`old ${seq}`));
    await redis.cli("SET", keys.seq, "2");
    expect(await appendBatch(connection, keys, ["new 3", "new 4", "new 5"])).toBe(5);
    expect(await redis.cli("XLEN", keys.stream)).toBe("3");
    {
      using started = await startMirror(connection, keys);
      await waitFor(() => started.published.length >= 5, 3000, "five entries");
      expect(await appendBatch(connection, keys, ["new 6"])).toBe(6);
      await waitFor(() => started.published.length >= 6, 3000, "the sixth entry");
      await Bun.sleep(100);
      expect(started.published).toEqual([
        [1, "old 1"],
        [2, "old 2"],
        [3, "new 3"],
        [4, "new 4"],
        [5, "new 5"],
        [6, "new 6"],
      ]);
    }
    connection.close();
  });

  test("one stream entry each: a batch is cut into its entries in the earlier form, seqs as for a batch", async () => {
    const connection = await connectRedis({ url: redis.url, log: quietLog });
    const keys = logKeys(uniquePrefix());
    expect(await appendBatch(connection, keys, ["a"])).toBe(1);
    expect(await appendBatch(connection, keys, ["b", "", "c\nd", "e"], 1_000_000, true)).toBe(5);
    expect(await appendBatch(connection, keys, ["f", "g"])).toBe(7);
    const items = (await redis.cli("XRANGE", keys.stream, "-", "+")).split("\n");
    // id, then ep/m/e pairs for the four single entries (no count), between the batches' ep/n/m/e.
    expect(items.filter((item) => /^\d+-0$/.test(item))).toEqual(["1-0", "2-0", "3-0", "4-0", "5-0", "7-0"]);
    {
      using started = await startMirror(connection, keys);
      await waitFor(() => started.published.length >= 7, 3000, "seven entries");
      await Bun.sleep(100);
      expect(started.published.map(([seq]) => seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(started.published.map(([, message]) => message)).toEqual(["a", "b", "", "c\nd", "e", "f", "g"]);
    }
    connection.close();
  });

  test("a journal that ends inside a batch continues at its end", async () => {
    const connection = await connectRedis({ url: redis.url, log: quietLog });
    const keys = logKeys(uniquePrefix());
    let epoch = "";
    {
      using started = await startMirror(connection, keys, (journal) => {
        epoch = journal.epoch;
      });
      started.mirror.close();
    }
    // The stream under this journal's epoch, and the journal already holding seqs 1 and 2 of the batch 1–4.
    await redis.cli("SET", keys.epoch, epoch);
    await redis.cli(
      "XADD",
      keys.stream,
      "4-0",
      "ep",
      epoch,
      "n",
      "4",
      "e",
      ["a", "b", "c", "d"].map(entryJson).join("\n"),
    );
    await redis.cli("SET", keys.seq, "4");
    {
      using started = await startMirror(connection, keys, (journal) => journal.reset(epoch, 3));
      await waitFor(() => started.published.length >= 2, 3000, "the batch's rest");
      await Bun.sleep(100);
      expect(started.published).toEqual([
        [3, "c"],
        [4, "d"],
      ]);
    }
    connection.close();
  });

  test("a batch its appender masked is not scanned again; one that says nothing is masked here", async () => {
    const connection = await connectRedis({ url: redis.url, log: quietLog });
    const keys = logKeys(uniquePrefix());
    const secret = "token=abcdefghijklmnopqrstuvwxyz0123";
    await redis.cli("SET", keys.epoch, EPOCH);
    // What the appender promised masked passes as it is, however it looks; without the promise it is masked.
    await redis.cli("XADD", keys.stream, "1-0", "ep", EPOCH, "n", "1", "m", "1", "e", entryJson(secret));
    await redis.cli("XADD", keys.stream, "2-0", "ep", EPOCH, "n", "1", "m", "0", "e", entryJson(secret));
    await redis.cli("XADD", keys.stream, "3-0", "ep", EPOCH, "e", entryJson(secret));
    await redis.cli("SET", keys.seq, "3");
    {
      using started = await startMirror(connection, keys);
      await waitFor(() => started.payloads.length >= 3, 3000, "three payloads");
      expect(started.payloads.map((payload) => payload.includes("abcdefghijklmnopqrstuvwxyz0123"))).toEqual([
        true,
        false,
        false,
      ]);
    }
    connection.close();
  });

  test("trimmed by seq: about maxEntries log entries stay, and a new mirror starts at the oldest batch's first", async () => {
    const connection = await connectRedis({ url: redis.url, log: quietLog });
    const keys = logKeys(uniquePrefix());
    // 300 batches of 10 with maxEntries 1,000: MINID ~ drops whole nodes (100 stream entries each by default).
    for (let batch = 0; batch < 300; batch++)
      await appendBatch(
        connection,
        keys,
        Array.from({ length: 10 }, (_, i) => `m${batch * 10 + i + 1}`),
        1000,
      );
    const first = (await redis.cli("XRANGE", keys.stream, "-", "+", "COUNT", "1")).split("\n");
    const firstSeq = Number.parseInt(first[0] as string, 10) - 9;
    // Everything from the newest 1,000 on stays; at most one node (1,000 log entries here) more.
    expect(firstSeq).toBeGreaterThan(1);
    expect(firstSeq).toBeLessThanOrEqual(2001);
    expect(3000 - firstSeq + 1).toBeGreaterThanOrEqual(1000);
    {
      using started = await startMirror(connection, keys);
      await waitFor(() => started.published.at(-1)?.[0] === 3000, 5000, "the stream's end");
      expect(started.published[0]).toEqual([firstSeq, `m${firstSeq}`]);
      expect(started.published).toHaveLength(3000 - firstSeq + 1);
    }
    connection.close();
  });
});
