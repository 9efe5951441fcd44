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
import type { LogEntry } from "../../src/logs/entry.ts";
import { openJournal } from "../../src/logs/journal.ts";
import { createLogHub, type LogHub } from "../../src/logs/log-hub.ts";
import { serializeEntry } from "../../src/logs/serialize.ts";
import type { LogFilters } from "../../src/logs/topics.ts";
import { suiteRedis, uniquePrefix } from "../helpers/cluster.ts";
import { makeEntry } from "../helpers/entries.ts";
import { redisAvailable } from "../helpers/redis.ts";
import { quietLog } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

const EPOCH = "0123abcd";

const entryJson = (message: string) =>
  JSON.stringify({ timestamp: "2026-01-01T00:00:00.000Z", level: "INFO", message });

/** An entry's JSON as serializeEntry writes it for the stream, with a hook id to filter on. */
const fullEntryJson = (message: string, hookId: string) =>
  serializeEntry(makeEntry({ message, hook_id: hookId }), true);

/** One batch through the append script, without a lease; resolves to the last seq it took. */
async function appendBatch(
  redis: Redis,
  keys: LogKeys,
  messages: string[],
  maxEntries = 1_000_000,
  oneStreamEntryEach = false,
  plain = false,
  toJson: (message: string) => string = entryJson,
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
      entries: messages.map(toJson),
      masked: false,
      set: [],
      remove: [],
      oneStreamEntryEach,
      plain,
    }),
  );
}

/**
 * A mirror over a fresh journal that records the seq and message of everything it publishes, the payloads
 * its one unfiltered subscriber gets (from a hub that masks secrets), those of a subscriber to each of
 * `filters` (by topic), and how many entries the hub parsed.
 */
async function startMirror(
  redis: Redis,
  keys: LogKeys,
  before?: (journal: ReturnType<typeof openJournal>) => void,
  filters: LogFilters[] = [],
) {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-format-"));
  const journal = openJournal({ dir, segmentBytes: 1 << 20, maxBytes: 1 << 24, log: quietLog });
  before?.(journal);
  const payloads: string[] = [];
  const filtered = new Map<string, string[]>();
  const hub = createLogHub({
    publish: (topic, payload) => {
      if (topic === unfiltered) payloads.push(payload);
      else filtered.set(topic, [...(filtered.get(topic) ?? []), payload]);
    },
    redact: true,
    journal,
  });
  const member = { bufferedAmount: () => 0, onLag() {} };
  const unfiltered = hub.subscribe({}, member);
  for (const filter of filters) hub.subscribe(filter, { ...member });
  const published: Array<[number, string]> = [];
  let parsed = 0;
  const recording: LogHub = {
    ...hub,
    publish(entry, serialized, masked) {
      published.push([journal.endSeq(), entry.message]);
      hub.publish(entry, serialized, masked);
    },
    publishSerialized(serialized, masked, parse) {
      published.push([journal.endSeq(), (JSON.parse(serialized) as LogEntry).message]);
      hub.publishSerialized(serialized, masked, () => {
        parsed++;
        return parse();
      });
    },
  };
  const mirror = createLogMirror({ redis, keys, journal, hub: recording, log: quietLog });
  await mirror.start();
  return {
    published,
    payloads,
    filtered,
    parsed: () => parsed,
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
    // The earlier form stays as it was: no `p` field on the single entries, only on the two batches.
    expect(items.filter((item) => item === "p")).toHaveLength(2);
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

  test("a batch its appender says is plain streams as a parsed one does, parsed only for a filtered topic", async () => {
    const connection = await connectRedis({ url: redis.url, log: quietLog });
    const messages = ["one token=abcdefghijklmnopqrstuvwxyz0123", "two", 'three "quoted"\n'];
    const hooks = ["h1", "h2", "h1"];
    const streams = [false, true].map((plain) => {
      const keys = logKeys(uniquePrefix());
      const toJson = (message: string) => fullEntryJson(message, hooks[messages.indexOf(message)] as string);
      return {
        plain,
        keys,
        append: () => appendBatch(connection, keys, messages, 1_000_000, false, plain, toJson),
      };
    });
    const seen: Array<{ payloads: string[]; filtered: string[][] }> = [];
    for (const { plain, keys, append } of streams) {
      expect(await append()).toBe(3);
      const fields = (await redis.cli("XRANGE", keys.stream, "-", "+")).split("\n");
      expect(fields.includes("p") && fields[fields.indexOf("p") + 1] === "1").toBe(plain);
      {
        using unfilteredOnly = await startMirror(connection, keys);
        await waitFor(() => unfilteredOnly.payloads.length === 3, 3000, "three payloads");
        expect(unfilteredOnly.parsed()).toBe(0);
        using withFilter = await startMirror(connection, keys, undefined, [{ hook_id: "h1" }]);
        await waitFor(() => withFilter.payloads.length === 3, 3000, "three payloads");
        expect(withFilter.parsed()).toBe(plain ? 3 : 0);
        expect(withFilter.payloads).toEqual(unfilteredOnly.payloads);
        seen.push({ payloads: unfilteredOnly.payloads, filtered: [...withFilter.filtered.values()] });
      }
    }
    // The same payloads, byte for byte, and the filtered topic got the h1 entries only.
    expect(seen[1]).toEqual(seen[0]);
    const payloads = seen[0]?.payloads ?? [];
    expect(seen[0]?.filtered).toEqual([[payloads[0] as string, payloads[2] as string]]);
    expect(seen[0]?.payloads.map((payload) => JSON.parse(payload).cursor)).toEqual([
      `${EPOCH}-1`,
      `${EPOCH}-2`,
      `${EPOCH}-3`,
    ]);
    expect(seen[0]?.payloads[0]).not.toContain("abcdefghijklmnopqrstuvwxyz0123");
    connection.close();
  });

  test("what its appender does not say is plain and is not a valid entry is streamed raw and counted", async () => {
    const connection = await connectRedis({ url: redis.url, log: quietLog });
    const keys = logKeys(uniquePrefix());
    await redis.cli("SET", keys.epoch, EPOCH);
    await redis.cli("XADD", keys.stream, "1-0", "ep", EPOCH, "e", "not json");
    await redis.cli(
      "XADD",
      keys.stream,
      "3-0",
      "ep",
      EPOCH,
      "n",
      "2",
      "m",
      "1",
      "p",
      "0",
      "e",
      '{}\n{"level":1}',
    );
    await redis.cli("XADD", keys.stream, "4-0", "ep", EPOCH, "n", "1", "m", "1", "e", entryJson("valid"));
    await redis.cli("SET", keys.seq, "4");
    {
      using started = await startMirror(connection, keys);
      await waitFor(() => started.payloads.length === 4, 3000, "four payloads");
      const streamed = started.payloads.map((payload) => JSON.parse(payload));
      expect(streamed.map((entry) => [entry.level, entry.message])).toEqual([
        ["UNKNOWN", "not json"],
        ["UNKNOWN", "{}"],
        ["UNKNOWN", '{"level":1}'],
        ["INFO", "valid"],
      ]);
      expect(started.mirror.stats().malformedEntries).toBe(3);
    }
    connection.close();
  });
});
