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
import { type LogKeys, randomHex8, SYNC_SCRIPT } from "./log-scripts.ts";
import type { Redis, RedisValue } from "./redis.ts";

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

/**
 * Entries per XREAD: at most READ_COUNT, fewer when entries are large, so one batch holds about
 * READ_TARGET_BYTES (entries run up to 1 MiB each).
 */
const READ_COUNT = 1000;
const READ_TARGET_BYTES = 4 * 1024 * 1024;
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
  seq: number;
  fields: Map<string, string>;
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
    const raw = Array.isArray(item[1]) ? item[1] : [];
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < raw.length; i += 2) fields.set(String(raw[i]), String(raw[i + 1]));
    entries.push({ seq: Number.parseInt(item[0], 10), fields });
  }
  return entries;
}

function nextReadCount(entries: readonly StreamEntry[]): number {
  if (entries.length === 0) return READ_COUNT;
  let bytes = 0;
  for (const entry of entries) bytes += entry.fields.get("e")?.length ?? 0;
  const average = Math.max(1, bytes / entries.length);
  return Math.max(1, Math.min(READ_COUNT, Math.floor(READ_TARGET_BYTES / average)));
}

export function createLogMirror(options: LogMirrorOptions): LogMirror {
  const { redis, keys, journal, hub, log } = options;
  let closed = false;
  let connection: Redis | null = null;
  let needSync = true;
  let malformedEntries = 0;
  let resets = 0;
  let loop: Promise<void> | null = null;
  let readCount = READ_COUNT;
  let failing = false;
  /** Resolved when the journal reaches `target` at start. */
  let startTarget = 0;
  let startReached: (() => void) | null = null;

  const checkStartReached = () => {
    if (startReached !== null && journal.endSeq() > startTarget) {
      startReached();
      startReached = null;
    }
  };

  const reset = (epoch: string, startSeq: number, why: string) => {
    log("info", `log journal restarts at ${epoch}-${startSeq.toString(16)}: ${why}`);
    journal.reset(epoch, startSeq);
    resets++;
  };

  /** Aligns the journal with the stream: same epoch, and its end inside what the stream holds. */
  const sync = async () => {
    const reply = await redis.eval(
      SYNC_SCRIPT,
      [keys.stream, keys.seq, keys.epoch],
      [randomHex8(), journal.endSeq() - 1],
    );
    if (closed) return 0;
    if (!Array.isArray(reply) || typeof reply[0] !== "string") throw new Error("unexpected sync reply");
    const epoch = reply[0];
    const lastSeq = Number(reply[1]);
    const firstSeq = typeof reply[2] === "string" ? Number.parseInt(reply[2], 10) : null;
    const end = journal.endSeq();
    if (epoch !== journal.epoch) reset(epoch, firstSeq ?? lastSeq + 1, "the shared stream has another epoch");
    else if (end > lastSeq + 1) {
      log(
        "warn",
        `the shared stream ends at seq ${lastSeq}, before this journal (${end - 1}): Redis lost data`,
      );
      reset(epoch, firstSeq ?? lastSeq + 1, "the shared stream went back");
    } else if (firstSeq !== null && end < firstSeq)
      reset(epoch, firstSeq, "the shared stream no longer holds the entries after this journal's end");
    else if (firstSeq === null && end <= lastSeq) reset(epoch, lastSeq + 1, "the shared stream is empty");
    needSync = false;
    return lastSeq;
  };

  /** Publishes the entries that continue the journal; false when something needs a sync first. */
  const apply = (entries: StreamEntry[]): boolean => {
    let published = 0;
    let inOrder = true;
    for (const { seq, fields } of entries) {
      if (seq < journal.endSeq()) continue;
      if (seq > journal.endSeq() || fields.get("ep") !== journal.epoch) {
        inOrder = false;
        break;
      }
      const { entry, serialized } = decodeEntry(fields.get("e") ?? "");
      hub.publish(entry, serialized);
      published++;
    }
    if (published > 0) hub.endBatch();
    return inOrder;
  };

  const decodeEntry = (json: string): { entry: LogEntry; serialized: string | undefined } => {
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
    malformedEntries++;
    log("warn", `malformed entry in the shared log stream, streamed raw: ${json.slice(0, 200)}`);
    return { entry: rawEntry(json, new Date().toISOString()), serialized: undefined };
  };

  const run = async () => {
    while (!closed) {
      try {
        if (needSync) await sync();
        // close() may have run during either await: what opens after it is closed here, never read from.
        if (closed) return;
        if (connection === null) {
          const opened = await redis.duplicate();
          if (closed) {
            opened.close();
            return;
          }
          connection = opened;
        }
        const reply = await connection.send("XREAD", [
          "COUNT",
          readCount,
          "BLOCK",
          BLOCK_MS,
          "STREAMS",
          keys.stream,
          `${journal.endSeq() - 1}-0`,
        ]);
        if (closed) return;
        if (failing) log("info", "reading the shared log stream again");
        failing = false;
        const entries = streamEntries(reply, keys.stream);
        readCount = nextReadCount(entries);
        // Nothing new for a while: make sure the epoch did not change under us (Redis lost its data).
        if (entries.length === 0) needSync = true;
        else if (!apply(entries)) needSync = true;
        checkStartReached();
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
      try {
        startTarget = await sync();
      } catch (error) {
        log("warn", `cannot sync with the shared log stream yet (${String(error)}); retrying`);
      }
      let timeout: ReturnType<typeof setTimeout> | null = null;
      const reached = new Promise<void>((resolve) => {
        startReached = resolve;
        timeout = setTimeout(resolve, START_CATCH_UP_MS);
      });
      checkStartReached();
      loop = run();
      await reached;
      if (timeout !== null) clearTimeout(timeout);
      startReached = null;
    },
    close() {
      closed = true;
      connection?.close();
      connection = null;
      // A start() still waiting for the catch-up resolves now: nothing more will arrive.
      startReached?.();
      startReached = null;
    },
    stats: () => ({ epoch: journal.epoch, mirroredSeq: journal.endSeq() - 1, malformedEntries, resets }),
  };
}
