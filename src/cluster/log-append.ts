/**
 * Entries that do not come from the log files (relayed deliveries) enter the shared stream through the
 * instance that accepted them, without the writer lease, and get cluster seqs like every other entry. While
 * Redis is away they wait in a bounded queue and are appended in order once it answers; every batch carries
 * a marker key, so resending a batch whose reply was lost does not append it twice.
 */
import { APPEND_SCRIPT, appendArgs, type LogKeys, randomHex8 } from "./log-scripts.ts";
import type { Redis } from "./redis.ts";

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

/** Entries kept while Redis is away; past it the oldest are dropped (and counted). */
const MAX_QUEUED_ENTRIES = 10_000;
/** Entries per append script. */
const MAX_BATCH_ENTRIES = 1000;
/** Pause before resending after a failure (also retried as soon as Redis is seen up again). */
const RETRY_MS = 500;
/** How long a batch marker lives: far longer than any resend of that batch can take. */
const MARKER_TTL_MS = 10 * 60_000;

export interface LogAppenderStats {
  queued: number;
  dropped: number;
}

export interface LogAppender {
  append(json: string): void;
  close(): void;
  stats(): LogAppenderStats;
}

export function createLogAppender(options: {
  redis: Redis;
  keys: LogKeys;
  maxEntries: number;
  /** The local journal's last seq: should Redis have lost the stream, the new epoch starts past it. */
  minSeq(): number;
  log: LogFn;
}): LogAppender {
  const { redis, keys, log } = options;
  let queue: string[] = [];
  /** The batch being appended; resent as it is (same marker) until Redis confirms it. */
  let inFlight: { marker: string; entries: string[] } | null = null;
  let sending = false;
  let scheduled = false;
  let closed = false;
  let dropped = 0;
  let failing = false;
  let retry: ReturnType<typeof setTimeout> | null = null;

  const flush = async () => {
    if (sending || closed) return;
    sending = true;
    try {
      while (!closed) {
        if (inFlight === null) {
          if (queue.length === 0) return;
          inFlight = { marker: keys.batch(crypto.randomUUID()), entries: queue.splice(0, MAX_BATCH_ENTRIES) };
        }
        try {
          await redis.eval(
            APPEND_SCRIPT,
            [keys.stream, keys.seq, keys.epoch, keys.writer, keys.positions, inFlight.marker],
            appendArgs({
              lease: "",
              candidateEpoch: randomHex8(),
              minSeq: options.minSeq(),
              maxEntries: options.maxEntries,
              markerTtlMs: MARKER_TTL_MS,
              entries: inFlight.entries,
              set: [],
              remove: [],
            }),
          );
        } catch (error) {
          if (!failing) log("warn", `relayed log entries wait for Redis: ${String(error)}`);
          failing = true;
          if (retry === null && !closed)
            retry = setTimeout(() => {
              retry = null;
              void flush();
            }, RETRY_MS);
          return;
        }
        failing = false;
        inFlight = null;
      }
    } finally {
      sending = false;
    }
  };

  const unsubscribe = redis.onStateChange((up) => {
    if (up) void flush();
  });

  return {
    append(json) {
      if (closed) return;
      queue.push(json);
      const excess = queue.length + (inFlight?.entries.length ?? 0) - MAX_QUEUED_ENTRIES;
      if (excess > 0) {
        queue = queue.slice(excess);
        if (dropped === 0)
          log("warn", `relayed log entry queue full (${MAX_QUEUED_ENTRIES}): dropping the oldest`);
        dropped += excess;
      }
      // One append for everything published in the same turn.
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        void flush();
      });
    },
    close() {
      closed = true;
      unsubscribe();
      if (retry !== null) clearTimeout(retry);
      const left = queue.length + (inFlight?.entries.length ?? 0);
      if (left > 0) log("warn", `${left} relayed log entries were not appended before shutdown`);
    },
    stats: () => ({ queued: queue.length + (inFlight?.entries.length ?? 0), dropped }),
  };
}
