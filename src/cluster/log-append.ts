/**
 * Entries that do not come from the log files (relayed deliveries) enter the shared stream through the
 * instance that accepted them, without the writer lease, and get cluster seqs like every other entry. While
 * Redis is away they wait in a bounded queue and are appended in order once it answers; every batch leaves
 * its id in the instance's marker key, so resending a batch whose reply was lost does not append it twice. A graceful shutdown
 * appends what is still queued before the connection closes (bounded by CLOSE_FLUSH_MS).
 */
import { APPEND_SCRIPT, appendArgs, BATCH_MARKER_TTL_MS, type LogKeys, randomHex8 } from "./log-scripts.ts";
import type { Redis } from "./redis.ts";

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

/** Entries kept while Redis is away; past it the oldest are dropped (and counted). */
const MAX_QUEUED_ENTRIES = 10_000;
/** Entries per append script. */
const MAX_BATCH_ENTRIES = 1000;
/** Pause before resending after a failure (also retried as soon as Redis is seen up again). */
const RETRY_MS = 500;
/** How long close() keeps appending what is queued: bounds shutdown when Redis is away. */
const CLOSE_FLUSH_MS = 2_000;

export interface LogAppenderStats {
  queued: number;
  dropped: number;
}

export interface LogAppender {
  /** Queues serializeEntry's JSON of an entry without a cursor (the stream says so: its `p` field). */
  append(json: string): void;
  /**
   * Appends what is still queued (waiting for the batch in flight), for at most CLOSE_FLUSH_MS, then stops;
   * entries left then are counted in a warning. Resolves once it stopped.
   */
  close(): Promise<void>;
  stats(): LogAppenderStats;
}

export interface LogAppenderOptions {
  redis: Redis;
  keys: LogKeys;
  /** Names this instance's batch marker: unique per process, as batches are sent one at a time per appender. */
  instanceId: string;
  maxEntries: number;
  /** The entries it is given have their secrets masked. */
  masked: boolean;
  /** One stream entry per log entry (CLUSTER_LOG_STREAM_FORMAT=entries), for a rolling upgrade. */
  oneStreamEntryEach?: boolean;
  /** The local journal's last seq: should Redis have lost the stream, the new epoch starts past it. */
  minSeq(): number;
  log: LogFn;
}

/** One relayed batch: its id goes into the instance's marker, so a resend after a lost reply is a no-op. */
interface RelayedBatch {
  id: string;
  entries: string[];
}

function appendBatch(options: LogAppenderOptions, batch: RelayedBatch): Promise<unknown> {
  const { keys } = options;
  return options.redis.eval(
    APPEND_SCRIPT,
    [keys.stream, keys.seq, keys.epoch, keys.writer, keys.positions, keys.batch(options.instanceId)],
    appendArgs({
      lease: "",
      candidateEpoch: randomHex8(),
      minSeq: options.minSeq(),
      maxEntries: options.maxEntries,
      batchId: batch.id,
      markerTtlMs: BATCH_MARKER_TTL_MS,
      entries: batch.entries,
      masked: options.masked,
      set: [],
      remove: [],
      oneStreamEntryEach: options.oneStreamEntryEach,
      // Every entry comes from the pipeline's serialize: serializeEntry's JSON of an entry without a cursor.
      plain: true,
    }),
  );
}

/** Drops the oldest queued entries past MAX_QUEUED_ENTRIES (the batch in flight counts too); returns how many. */
function dropOldest(queue: string[], inFlight: number): number {
  const excess = queue.length + inFlight - MAX_QUEUED_ENTRIES;
  if (excess <= 0) return 0;
  queue.splice(0, excess);
  return excess;
}

/** Resolves when `work` settles or after `ms`, whichever comes first. */
function settledOrAfter(work: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const deadline = setTimeout(resolve, ms);
    void work.finally(() => {
      clearTimeout(deadline);
      resolve();
    });
  });
}

export function createLogAppender(options: LogAppenderOptions): LogAppender {
  const { redis, log } = options;
  const queue: string[] = [];
  /** The batch being appended; resent as it is (same id) until Redis confirms it. */
  let inFlight: RelayedBatch | null = null;
  /** The running append loop, if any: one at a time, so batches reach Redis in order. */
  let sending: Promise<void> | null = null;
  let scheduled = false;
  let closing = false;
  let closed = false;
  let dropped = 0;
  let failing = false;
  let retry: ReturnType<typeof setTimeout> | null = null;

  const left = () => queue.length + (inFlight?.entries.length ?? 0);

  /** Appends until the queue is empty or a batch fails; a call while that runs joins it. */
  const flush = (): Promise<void> => {
    if (closed) return Promise.resolve();
    sending ??= Promise.resolve().then(send);
    return sending;
  };

  const send = async () => {
    try {
      while (!closed) {
        if (inFlight === null) {
          if (queue.length === 0) return;
          inFlight = { id: crypto.randomUUID(), entries: queue.splice(0, MAX_BATCH_ENTRIES) };
        }
        try {
          await appendBatch(options, inFlight);
        } catch (error) {
          if (!failing) log("warn", `relayed log entries wait for Redis: ${String(error)}`);
          failing = true;
          // While closing, close() retries itself until its deadline.
          if (retry === null && !closing)
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
      // Cleared in the same step as the last look at the queue: an append after it starts a new run.
      sending = null;
    }
  };

  /** What close() does before its deadline: append everything, retrying while Redis fails. */
  const drain = async () => {
    while (left() > 0 && !closed) {
      await flush();
      if (left() > 0 && !closed) await Bun.sleep(RETRY_MS);
    }
  };

  const unsubscribe = redis.onStateChange((up) => {
    if (up) void flush();
  });

  return {
    append(json) {
      if (closed) return;
      queue.push(json);
      const excess = dropOldest(queue, inFlight?.entries.length ?? 0);
      if (excess > 0 && dropped === 0)
        log("warn", `relayed log entry queue full (${MAX_QUEUED_ENTRIES}): dropping the oldest`);
      dropped += excess;
      // One append for everything published in the same turn.
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        void flush();
      });
    },
    async close() {
      if (closing) return;
      closing = true;
      unsubscribe();
      if (retry !== null) clearTimeout(retry);
      retry = null;
      await settledOrAfter(drain(), CLOSE_FLUSH_MS);
      closed = true;
      if (left() > 0) log("warn", `${left()} relayed log entries were not appended before shutdown`);
    },
    stats: () => ({ queued: left(), dropped }),
  };
}
