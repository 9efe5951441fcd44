/**
 * The cluster's one log writer: the instance holding the lease follows the log directory and appends its
 * entries to the shared stream. Instances that see the directory compete for the lease; the others only
 * mirror the stream.
 *
 * Exactly once across failover: each batch's entries and the follower positions right after it are written
 * by one script that first checks the lease (fencing), so the positions in Redis always say where the
 * committed entries end. A term as writer ends at the first failure — a write or renewal that fails (Redis
 * away) or finds the lease gone — by stopping the follower and dropping what was not committed; the next term,
 * here or elsewhere, starts a fresh follower from the positions in Redis and reads those lines again. A script
 * whose reply was lost either ran (its positions are in Redis) or did not (its lines are read again).
 */
import type { LogEntry } from "../logs/entry.ts";
import type { LogFollower } from "../logs/follow.ts";
import { createLease, type Lease, leaseHolder, renewIntervalMs } from "./lease.ts";
import { createPositionCodec, type PositionCodec } from "./log-positions.ts";
import type { LogKeys } from "./log-scripts.ts";
import { createWriterTerm, type WriterHooks, type WriterTerm } from "./log-writer-term.ts";
import type { Redis, RedisValue } from "./redis.ts";

export type { WriterHooks } from "./log-writer-term.ts";

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

export interface LogWriterOptions {
  redis: Redis;
  keys: LogKeys;
  instanceId: string;
  leaseMs: number;
  maxEntries: number;
  /** The log directory: only an instance that sees it competes for the lease. */
  dir: string;
  canFollow(): boolean;
  /** A new follower for one term, reading with exact positions. */
  createFollower(hooks: WriterHooks): LogFollower;
  /** The local journal's last seq: should Redis have lost the stream, the new epoch starts past it. */
  minSeq(): number;
  /** An entry as stored in the stream: serializeEntry's JSON (secrets masked), no cursor. */
  serialize(entry: LogEntry): string;
  /** serialize() masks secrets. */
  masked: boolean;
  /** One stream entry per log entry (CLUSTER_LOG_STREAM_FORMAT=entries), for a rolling upgrade. */
  oneStreamEntryEach?: boolean;
  log: LogFn;
}

export interface LogWriterStats {
  writer: boolean;
  /** Instance id holding the lease as last seen (refreshed every lease tick), or null. */
  leaseHolder: string | null;
  /** Whether the writer sees the log directory, as it last said; null without a writer. */
  writerSeesDirectory: boolean | null;
  /** Last seq handed out in the stream, as last seen. */
  streamSeq: number;
  entriesWritten: number;
  termsStarted: number;
  termsLost: number;
}

export interface LogWriter {
  /** Tries the lease once (and, when taken, awaits the follower's first pass), then keeps ticking. */
  start(): Promise<void>;
  /**
   * Ends the term (if any) and releases the lease, so another instance takes over at once; resolves once the
   * release has an answer (the Redis connection must stay open until then).
   */
  stop(): Promise<void>;
  /** The follower of the current term, if this instance writes now. */
  follower(): LogFollower | null;
  stats(): LogWriterStats;
}

type WriterStatus = Omit<LogWriterStats, "writer">;

/** The writer's status as one MGET of the lease, the seq counter and the directory flag answers it. */
export function statusFromReply(
  reply: RedisValue,
): Pick<LogWriterStats, "leaseHolder" | "streamSeq" | "writerSeesDirectory"> {
  const [holder, seq, directory] = Array.isArray(reply) ? reply : [];
  const holderId = leaseHolder(holder);
  return {
    leaseHolder: holderId,
    streamSeq: Number(seq ?? 0) || 0,
    writerSeesDirectory: holderId === null || directory == null ? null : directory === "1",
  };
}

/** The codec and the stored positions a term starts from; the lease is released when they cannot be read. */
async function readTermStart(
  options: LogWriterOptions,
  release: () => void,
): Promise<{ codec: PositionCodec; reply: RedisValue }> {
  try {
    const codec = createPositionCodec(options.dir);
    const reply = await options.redis.send("HGETALL", [options.keys.positions]);
    return { codec, reply };
  } catch (error) {
    release();
    throw error;
  }
}

/** A term under lease `token`, counting into `status`; `ended` hears whether it was lost. */
function newTerm(
  options: LogWriterOptions,
  start: { token: string; codec: PositionCodec; reply: RedisValue },
  status: WriterStatus,
  ended: (term: WriterTerm, reason: string | null) => void,
): WriterTerm {
  const term: WriterTerm = createWriterTerm({
    redis: options.redis,
    keys: options.keys,
    lease: start.token,
    codec: start.codec,
    positionsReply: start.reply,
    maxEntries: options.maxEntries,
    createFollower: options.createFollower,
    minSeq: options.minSeq,
    serialize: options.serialize,
    masked: options.masked,
    oneStreamEntryEach: options.oneStreamEntryEach,
    committed: (entries) => {
      status.entriesWritten += entries;
    },
    ended: (reason) => ended(term, reason),
    log: options.log,
  });
  return term;
}

/** A tick of the current term: renew its lease, or end the term where the lease was lost or the directory gone. */
async function keepTerm(current: WriterTerm, lease: Lease, log: LogFn): Promise<void> {
  if (current.directoryGone()) {
    // This instance lost the directory (an unmounted volume): hand the lease to one that sees it. What
    // was committed is where the next writer, possibly this one again later, continues.
    current.end(null);
    log("warn", "the log directory is gone here: handing the writer lease to an instance that sees it");
    await lease.release(current.lease);
    return;
  }
  const directory = current.follower.directoryExists() ? "1" : "0";
  if (!(await lease.renew(current.lease, directory))) current.end("the writer lease was lost");
}

export function createLogWriter(options: LogWriterOptions): LogWriter {
  const { redis, keys, instanceId, leaseMs, log } = options;
  const lease = createLease({
    redis,
    keys: { lease: keys.writer, status: keys.directory },
    instanceId,
    leaseMs,
    log,
  });
  let term: WriterTerm | null = null;
  let firstPass: Promise<void> = Promise.resolve();
  let stopped = false;
  let ticking = false;
  let timer: ReturnType<typeof setInterval> | null = null;
  const status: WriterStatus = {
    ...statusFromReply(null),
    entriesWritten: 0,
    termsStarted: 0,
    termsLost: 0,
  };

  const ended = (ending: WriterTerm, reason: string | null) => {
    if (term === ending) term = null;
    if (reason === null) return;
    status.termsLost++;
    log("warn", `stopped writing the log directory to the shared stream: ${reason}`);
  };

  /** Takes the lease if it is free (saying this instance sees the directory); on success starts a term. */
  const acquire = async () => {
    const token = await lease.acquire("1");
    if (token === null) return;
    const { codec, reply } = await readTermStart(options, () => void lease.release(token));
    if (stopped) {
      void lease.release(token);
      return;
    }
    const next = newTerm(options, { token, codec, reply }, status, ended);
    term = next;
    status.termsStarted++;
    status.leaseHolder = instanceId;
    log("info", `writing the log directory to the shared stream (writer lease ${token})`);
    firstPass = next.begin();
  };

  const refreshStatus = async () => {
    Object.assign(status, statusFromReply(await redis.send("MGET", [keys.writer, keys.seq, keys.directory])));
  };

  const tick = async () => {
    if (ticking || stopped) return;
    ticking = true;
    const current = term;
    try {
      if (current !== null) await keepTerm(current, lease, log);
      else if (options.canFollow()) await acquire();
      await refreshStatus();
    } catch (error) {
      if (current !== null) current.end(`renewing the writer lease failed (${String(error)})`);
      else if (term !== null) term.end(`starting to write failed (${String(error)})`);
    } finally {
      ticking = false;
    }
  };

  return {
    async start() {
      if (timer !== null || stopped) return;
      timer = setInterval(() => void tick(), renewIntervalMs(leaseMs));
      timer.unref?.();
      await tick();
      if (term !== null) await firstPass;
    },
    async stop() {
      stopped = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
      const current = term;
      if (current === null) return;
      current.end(null);
      await lease.release(current.lease);
    },
    follower: () => term?.follower ?? null,
    stats: () => ({ writer: term !== null, ...status }),
  };
}
