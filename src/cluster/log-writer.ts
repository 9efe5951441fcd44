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
import { createLease, leaseHolder, renewIntervalMs } from "./lease.ts";
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
  /** An entry as stored in the stream (secrets masked, no cursor). */
  serialize(entry: LogEntry): string;
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
  /** Ends the term (if any) and releases the lease, so another instance takes over at once. */
  stop(): void;
  /** The follower of the current term, if this instance writes now. */
  follower(): LogFollower | null;
  stats(): LogWriterStats;
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
  const status = {
    leaseHolder: null as string | null,
    writerSeesDirectory: null as boolean | null,
    streamSeq: 0,
    entriesWritten: 0,
    termsStarted: 0,
    termsLost: 0,
  };

  /** Takes the lease if it is free (saying this instance sees the directory); on success starts a term. */
  const acquire = async () => {
    const token = await lease.acquire("1");
    if (token === null) return;
    let codec: PositionCodec;
    let reply: RedisValue;
    try {
      codec = createPositionCodec(options.dir);
      reply = await redis.send("HGETALL", [keys.positions]);
    } catch (error) {
      void lease.release(token);
      throw error;
    }
    if (stopped) {
      void lease.release(token);
      return;
    }
    const next: WriterTerm = createWriterTerm({
      redis,
      keys,
      lease: token,
      codec,
      positionsReply: reply,
      maxEntries: options.maxEntries,
      createFollower: options.createFollower,
      minSeq: options.minSeq,
      serialize: options.serialize,
      committed: (entries) => {
        status.entriesWritten += entries;
      },
      ended: (reason) => {
        if (term === next) term = null;
        if (reason === null) return;
        status.termsLost++;
        log("warn", `stopped writing the log directory to the shared stream: ${reason}`);
      },
      log,
    });
    term = next;
    status.termsStarted++;
    status.leaseHolder = instanceId;
    log("info", `writing the log directory to the shared stream (writer lease ${token})`);
    firstPass = next.begin();
  };

  const refreshStatus = async () => {
    const reply = await redis.send("MGET", [keys.writer, keys.seq, keys.directory]);
    const [holder, seq, directory] = Array.isArray(reply) ? reply : [];
    status.leaseHolder = leaseHolder(holder);
    status.streamSeq = Number(seq ?? 0) || 0;
    status.writerSeesDirectory = status.leaseHolder === null || directory == null ? null : directory === "1";
  };

  const tick = async () => {
    if (ticking || stopped) return;
    ticking = true;
    const current = term;
    try {
      if (current?.directoryGone()) {
        // This instance lost the directory (an unmounted volume): hand the lease to one that sees it. What
        // was committed is where the next writer, possibly this one again later, continues.
        current.end(null);
        log("warn", "the log directory is gone here: handing the writer lease to an instance that sees it");
        await lease.release(current.lease);
      } else if (current !== null) {
        const directory = current.follower.directoryExists() ? "1" : "0";
        if (!(await lease.renew(current.lease, directory))) current.end("the writer lease was lost");
      } else if (options.canFollow()) {
        await acquire();
      }
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
    stop() {
      stopped = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
      const current = term;
      if (current === null) return;
      current.end(null);
      void lease.release(current.lease);
    },
    follower: () => term?.follower ?? null,
    stats: () => ({
      writer: term !== null,
      leaseHolder: status.leaseHolder,
      writerSeesDirectory: status.writerSeesDirectory,
      streamSeq: status.streamSeq,
      entriesWritten: status.entriesWritten,
      termsStarted: status.termsStarted,
      termsLost: status.termsLost,
    }),
  };
}
