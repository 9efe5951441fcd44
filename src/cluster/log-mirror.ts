/**
 * Every instance's copy of the shared log stream: its local journal holds the stream's entries under the
 * stream's own epoch and seqs, so cursors, backfill, gaps and catch-up work as in single mode and a cursor
 * from one instance means the same entry on every other.
 *
 * The stream is followed with bounded XREAD BLOCK calls on a connection of its own, always from the journal's
 * end (`<endSeq - 1>-0`): an entry is published only when its seq is the journal's next, so a retry after
 * Redis was away resumes exactly there. Whatever does not fit — another epoch (Redis lost its data), a seq
 * past the journal's end (trimmed while this instance was away) — makes the mirror sync: it adopts the
 * stream's epoch and restarts its journal at the oldest entry the stream still holds.
 */
import { z } from "zod";
import type { LogEntry } from "../logs/entry.ts";
import type { Journal } from "../logs/journal.ts";
import type { LogHub } from "../logs/log-hub.ts";
import { rawEntry } from "../logs/parse.ts";
import { splitEntries } from "./log-batch.ts";
import { type LogKeys, randomHex8, SYNC_SCRIPT } from "./log-scripts.ts";
import type { Redis, RedisValue } from "./redis.ts";

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

/**
 * Stream entries per XREAD: at most READ_COUNT, fewer when they are large, so one read holds about
 * READ_TARGET_BYTES, and at least one (a stream entry holds one append script's batch, up to 4 MiB and more;
 * one written by an earlier version, one log entry of up to 1 MiB). The first read takes READ_COUNT_FIRST,
 * the next ones as many as the last read's sizes say fit. At full rate a batch is about 1 MiB: reads of
 * 1 MiB rather than 4 took 3–13 % less CPU per line, and a mirror-only instance peaked at 180–225 MB
 * instead of 225–257 (500,000 lines, two rounds each).
 */
const READ_COUNT = 4096;
const READ_COUNT_FIRST = 1;
const READ_TARGET_BYTES = 1024 * 1024;
/** How long one XREAD waits for new entries; the loop then checks the epoch and reads again. */
const BLOCK_MS = 5000;
/** Pause before retrying after Redis failed to answer. */
const RETRY_MS = 250;
/** At start, how long to wait for the journal to reach the stream's end before serving anyway. */
const START_CATCH_UP_MS = 30_000;

/** What an entry in the stream must look like to be streamed as it is; anything else is streamed raw. */
const streamedEntrySchema = z.looseObject({
  timestamp: z.string(),
  level: z.string(),
  message: z.string(),
});

/** What streamedEntrySchema accepts, without copying the object: a plain object with those three strings. */
function isStreamedEntry(value: unknown): value is LogEntry {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record.timestamp === "string" &&
    typeof record.level === "string" &&
    typeof record.message === "string"
  );
}

export interface LogMirrorOptions {
  redis: Redis;
  keys: LogKeys;
  journal: Journal;
  hub: LogHub;
  log: LogFn;
}

export interface LogMirrorStats {
  epoch: string;
  /** Seq of the newest entry in the local journal (0: none). */
  mirroredSeq: number;
  /** Stream entries that were not a valid entry and were streamed raw. */
  malformedEntries: number;
  resets: number;
}

export interface LogMirror {
  /** Syncs with the stream and resolves once the journal has what the stream held then (bounded wait). */
  start(): Promise<void>;
  close(): void;
  stats(): LogMirrorStats;
}

interface StreamEntry {
  /** The seq of its last log entry (its id). */
  seq: number;
  /** The `ep` field: the epoch the entry was appended under. */
  epoch: string | null;
  /** The `n` field: how many log entries it holds (1 without the field). */
  count: number;
  /** The `m` field is "1": the appending instance masked their secrets. */
  masked: boolean;
  /** The `p` field is "1": each is serializeEntry's JSON of an entry without a cursor (no parse needed). */
  plain: boolean;
  /** The `e` field: the log entries' JSON, joined (log-batch.ts). */
  json: string;
}

/** The entries of an XREAD reply for one stream (a map with RESP3, nested lists with RESP2). */
export function streamEntries(reply: RedisValue, stream: string): StreamEntry[] {
  if (reply === null || typeof reply !== "object") return [];
  let items: RedisValue | undefined;
  if (Array.isArray(reply)) {
    for (const pair of reply) if (Array.isArray(pair) && pair[0] === stream) items = pair[1];
  } else items = reply[stream];
  if (!Array.isArray(items)) return [];
  const entries: StreamEntry[] = [];
  for (const item of items) {
    if (!Array.isArray(item) || typeof item[0] !== "string") continue;
    const fields = Array.isArray(item[1]) ? item[1] : [];
    let epoch: string | null = null;
    let count = 1;
    let masked = false;
    let plain = false;
    let json = "";
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === "ep") epoch = String(fields[i + 1]);
      else if (fields[i] === "e") json = String(fields[i + 1]);
      else if (fields[i] === "n") count = Math.max(1, Number.parseInt(String(fields[i + 1]), 10) || 1);
      else if (fields[i] === "m") masked = fields[i + 1] === "1";
      else if (fields[i] === "p") plain = fields[i + 1] === "1";
    }
    entries.push({ seq: Number.parseInt(item[0], 10), epoch, count, masked, plain, json });
  }
  return entries;
}

/** One bounded XREAD of the entries from `endSeq` (the journal's end) on. */
function readArgs(stream: string, count: number, endSeq: number): (string | number)[] {
  return ["COUNT", count, "BLOCK", BLOCK_MS, "STREAMS", stream, `${endSeq - 1}-0`];
}

/** How many stream entries the next XREAD asks for: as many as fit READ_TARGET_BYTES at the last read's sizes. */
export function nextReadCount(entries: readonly StreamEntry[], previous: number): number {
  if (entries.length === 0) return previous;
  let bytes = 0;
  for (const entry of entries) bytes += entry.json.length;
  const average = Math.max(1, bytes / entries.length);
  return Math.max(1, Math.min(READ_COUNT, Math.floor(READ_TARGET_BYTES / average)));
}

/** The stream as one SYNC_SCRIPT call saw it. */
export interface StreamView {
  epoch: string;
  lastSeq: number;
  /** Seq of the oldest entry the stream still holds; null when it is empty. */
  firstSeq: number | null;
}

function streamViewOf(reply: RedisValue): StreamView {
  if (!Array.isArray(reply) || typeof reply[0] !== "string") throw new Error("unexpected sync reply");
  return {
    epoch: reply[0],
    lastSeq: Number(reply[1]),
    firstSeq:
      typeof reply[2] === "number" || typeof reply[2] === "string"
        ? Number.parseInt(String(reply[2]), 10)
        : null,
  };
}

/**
 * Where the journal must restart to continue the stream, or null when it continues it as it is: same epoch,
 * and its end inside what the stream holds.
 */
export function journalRestart(
  journal: { epoch: string; end: number },
  stream: StreamView,
): { startSeq: number; why: string; lost: boolean } | null {
  const { epoch, lastSeq, firstSeq } = stream;
  const end = journal.end;
  if (epoch !== journal.epoch)
    return { startSeq: firstSeq ?? lastSeq + 1, why: "the shared stream has another epoch", lost: false };
  if (end > lastSeq + 1)
    return { startSeq: firstSeq ?? lastSeq + 1, why: "the shared stream went back", lost: true };
  if (firstSeq !== null && end < firstSeq)
    return {
      startSeq: firstSeq,
      why: "the shared stream no longer holds the entries after this journal's end",
      lost: false,
    };
  if (firstSeq === null && end <= lastSeq)
    return { startSeq: lastSeq + 1, why: "the shared stream is empty", lost: false };
  return null;
}

/** The entry a stream entry's JSON holds, and that JSON when the hub may publish it as it is. */
interface DecodedEntry {
  entry: LogEntry;
  serialized: string | undefined;
}

/** Decodes one stream entry's JSON; what is not a valid entry becomes a raw one (`malformed` is told). */
function decodeEntry(json: string, malformed: (json: string) => void): DecodedEntry {
  let value: unknown = null;
  try {
    value = JSON.parse(json);
  } catch {
    value = null;
  }
  // The schema's check by hand first: zod walks every key of a loose object, which cost the mirror
  // about a tenth of its time per entry; what fails here still goes through the schema below.
  if (isStreamedEntry(value) || streamedEntrySchema.safeParse(value).success) {
    const entry = value as LogEntry;
    // The stream's JSON is what the hub would serialise again, unless it carried a cursor of its own.
    if (entry.cursor === undefined) return { entry, serialized: json };
    delete entry.cursor;
    return { entry, serialized: undefined };
  }
  malformed(json);
  return { entry: rawEntry(json, new Date().toISOString()), serialized: undefined };
}

/**
 * Publishes the entries that continue the journal, in order; false when one does not (a seq past the
 * journal's end, another epoch) and the mirror needs a sync first.
 */
function publishContinuing(
  entries: readonly StreamEntry[],
  journal: Journal,
  hub: LogHub,
  malformed: (json: string) => void,
): boolean {
  let published = 0;
  let inOrder = true;
  for (const { seq, epoch, count, masked, plain, json } of entries) {
    if (seq < journal.endSeq()) continue;
    const firstSeq = seq - count + 1;
    if (firstSeq > journal.endSeq() || epoch !== journal.epoch) {
      inOrder = false;
      break;
    }
    // A journal that ends inside the batch (it restarted there) continues at its end.
    const batch = splitEntries(json, count);
    for (let i = journal.endSeq() - firstSeq; i < count; i++) {
      const piece = batch[i] as string;
      // What its appender vouches for is parsed only if a topic filters on a field (a tenth of the time per
      // entry went to parsing it, to route it to the one unfiltered topic); anything else is checked first.
      if (plain) hub.publishSerialized(piece, masked, () => JSON.parse(piece) as LogEntry);
      else {
        const { entry, serialized } = decodeEntry(piece, malformed);
        hub.publish(entry, serialized, masked);
      }
      published++;
    }
  }
  if (published > 0) hub.endBatch();
  return inOrder;
}

/**
 * Aligns the journal with the stream (see journalRestart): resolves to the stream's last seq and whether the
 * journal restarted, or null when `closed` became true meanwhile (nothing is changed then).
 */
async function syncJournal(
  options: LogMirrorOptions,
  closed: () => boolean,
): Promise<{ lastSeq: number; reset: boolean } | null> {
  const { redis, keys, journal, log } = options;
  const reply = await redis.eval(
    SYNC_SCRIPT,
    [keys.stream, keys.seq, keys.epoch],
    [randomHex8(), journal.endSeq() - 1],
  );
  if (closed()) return null;
  const stream = streamViewOf(reply);
  const restart = journalRestart({ epoch: journal.epoch, end: journal.endSeq() }, stream);
  if (restart === null) return { lastSeq: stream.lastSeq, reset: false };
  if (restart.lost)
    log(
      "warn",
      `the shared stream ends at seq ${stream.lastSeq}, before this journal (${journal.endSeq() - 1}): Redis lost data`,
    );
  log("info", `log journal restarts at ${stream.epoch}-${restart.startSeq.toString(16)}: ${restart.why}`);
  journal.reset(stream.epoch, restart.startSeq);
  return { lastSeq: stream.lastSeq, reset: true };
}

/** A wait for the journal to pass a seq, bounded by START_CATCH_UP_MS, and released at once by close(). */
function createStartWait(journal: Journal) {
  let target = 0;
  let reached: (() => void) | null = null;
  const release = () => {
    reached?.();
    reached = null;
  };
  /** Called as entries arrive. */
  const check = () => {
    if (reached !== null && journal.endSeq() > target) release();
  };
  return {
    /** Calls `started` and waits until the journal holds `seq`, or the bound passed, or release() came. */
    async until(seq: number, started: () => void) {
      target = seq;
      let timeout: ReturnType<typeof setTimeout> | null = null;
      const done = new Promise<void>((resolve) => {
        reached = resolve;
        timeout = setTimeout(resolve, START_CATCH_UP_MS);
      });
      check();
      started();
      await done;
      if (timeout !== null) clearTimeout(timeout);
      reached = null;
    },
    check,
    release,
  };
}

export function createLogMirror(options: LogMirrorOptions): LogMirror {
  const { redis, keys, journal, hub, log } = options;
  let closed = false;
  let connection: Redis | null = null;
  let needSync = true;
  let malformedEntries = 0;
  let resets = 0;
  let loop: Promise<void> | null = null;
  let readCount = READ_COUNT_FIRST;
  let failing = false;
  const startWait = createStartWait(journal);

  const malformed = (json: string) => {
    malformedEntries++;
    log("warn", `malformed entry in the shared log stream, streamed raw: ${json.slice(0, 200)}`);
  };

  /** Aligns the journal with the stream; resolves to the stream's last seq (0 when closed meanwhile). */
  const sync = async () => {
    const synced = await syncJournal(options, () => closed);
    if (synced === null) return 0;
    if (synced.reset) resets++;
    needSync = false;
    return synced.lastSeq;
  };

  /** The blocking connection, opened on first use; null when close() came meanwhile. */
  const reader = async (): Promise<Redis | null> => {
    if (connection !== null) return connection;
    const opened = await redis.duplicate();
    if (closed) {
      opened.close();
      return null;
    }
    connection = opened;
    return opened;
  };

  /** One step of the loop: sync if needed, then one bounded XREAD from the journal's end. */
  const step = async () => {
    if (needSync) await sync();
    // close() may have run during either await: what opens after it is closed here, never read from.
    if (closed) return;
    const blocking = await reader();
    if (blocking === null) return;
    const reply = await blocking.send("XREAD", readArgs(keys.stream, readCount, journal.endSeq()));
    if (closed) return;
    if (failing) log("info", "reading the shared log stream again");
    failing = false;
    const entries = streamEntries(reply, keys.stream);
    readCount = nextReadCount(entries, readCount);
    // Nothing new for a while: make sure the epoch did not change under us (Redis lost its data).
    if (entries.length === 0 || !publishContinuing(entries, journal, hub, malformed)) needSync = true;
    startWait.check();
  };

  const run = async () => {
    while (!closed) {
      try {
        await step();
      } catch (error) {
        if (closed) return;
        if (!failing) log("warn", `reading the shared log stream failed (${String(error)}); retrying`);
        failing = true;
        needSync = true;
        connection?.close();
        connection = null;
        await Bun.sleep(RETRY_MS);
      }
    }
  };

  return {
    async start() {
      if (loop !== null) return;
      let target = 0;
      try {
        target = await sync();
      } catch (error) {
        log("warn", `cannot sync with the shared log stream yet (${String(error)}); retrying`);
      }
      await startWait.until(target, () => {
        loop = run();
      });
    },
    close() {
      closed = true;
      connection?.close();
      connection = null;
      // A start() still waiting for the catch-up resolves now: nothing more will arrive.
      startWait.release();
    },
    stats: () => ({ epoch: journal.epoch, mirroredSeq: journal.endSeq() - 1, malformedEntries, resets }),
  };
}
