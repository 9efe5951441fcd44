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
import type { PositionStore } from "../logs/positions.ts";
import {
  createPositionCodec,
  decodePositions,
  encodePosition,
  FOLLOWED_FIELD,
  hashEntries,
  type PositionCodec,
  positionChanges,
  sharedPositionStore,
} from "./log-positions.ts";
import type { LogKeys } from "./log-scripts.ts";
import {
  ACQUIRE_LEASE_SCRIPT,
  APPEND_SCRIPT,
  appendArgs,
  RELEASE_LEASE_SCRIPT,
  RENEW_LEASE_SCRIPT,
  randomHex8,
} from "./log-scripts.ts";
import type { Redis, RedisValue } from "./redis.ts";

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

/** Most entries and bytes in one append script: bounds a script's run time and its arguments. */
const MAX_SCRIPT_ENTRIES = 4096;
const MAX_SCRIPT_BYTES = 4 * 1024 * 1024;
/** Uncommitted bytes past which the follower waits for Redis, and under which it continues. */
const QUEUE_HIGH_WATER_BYTES = 16 * 1024 * 1024;
const QUEUE_LOW_WATER_BYTES = 4 * 1024 * 1024;

/** What a writer term hands the follower it builds. */
export interface WriterHooks {
  positions: PositionStore;
  /**
   * When an earlier term last committed (minus clock skew), if one did: files its positions do not name and
   * that changed since are read from their start.
   */
  takeOverSince: number | undefined;
  emit(entry: LogEntry): void;
  onBatchEnd(): Promise<void> | undefined;
}

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

interface Batch {
  entries: string[];
  bytes: number;
  /** Positions right after the batch: Redis field → stored value. */
  positions: Map<string, string>;
}

interface Term {
  lease: string;
  follower: LogFollower | null;
  codec: PositionCodec;
  active: boolean;
  /** Entries emitted since the last batch end. */
  current: string[];
  currentBytes: number;
  /** Batches not yet committed, oldest first; the first ones may be in flight. */
  pending: Batch[];
  pendingBytes: number;
  /** Positions in Redis after the last commit (or as read at the start of the term). */
  committed: Map<string, string>;
  sending: boolean;
  waiters: Array<() => void>;
  firstPass: Promise<void>;
  /** The first pass over the directory is done: from then on a missing directory is really gone. */
  scanned: boolean;
}

/** Whether `next` (files only) holds the same positions as `previous` (files and the commit time). */
function sameFiles(previous: ReadonlyMap<string, string>, next: ReadonlyMap<string, string>): boolean {
  const previousFiles = previous.has(FOLLOWED_FIELD) ? previous.size - 1 : previous.size;
  if (previousFiles !== next.size) return false;
  for (const [key, value] of next) if (previous.get(key) !== value) return false;
  return true;
}

/** Clocks of the hosts sharing a directory may differ by this much; erring early re-reads, never skips. */
const CLOCK_SKEW_MS = 2_000;

export function createLogWriter(options: LogWriterOptions): LogWriter {
  const { redis, keys, instanceId, leaseMs, log } = options;
  const tickMs = Math.max(100, Math.floor(leaseMs / 3));
  let term: Term | null = null;
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

  const wake = (current: Term) => {
    for (const resolve of current.waiters.splice(0)) resolve();
  };

  /** Ends a term: nothing it read and did not commit is kept; the next term reads it again. */
  const endTerm = (ended: Term, reason: string | null) => {
    if (!ended.active) return;
    ended.active = false;
    ended.follower?.stop();
    ended.pending = [];
    ended.pendingBytes = 0;
    ended.current = [];
    wake(ended);
    if (term === ended) term = null;
    if (reason !== null) {
      status.termsLost++;
      log("warn", `stopped writing the log directory to the shared stream: ${reason}`);
    }
  };

  const send = async (current: Term) => {
    if (current.sending) return;
    current.sending = true;
    try {
      while (current.active && current.pending.length > 0) {
        let count = 0;
        let entries = 0;
        let bytes = 0;
        for (const batch of current.pending) {
          if (
            count > 0 &&
            (entries + batch.entries.length > MAX_SCRIPT_ENTRIES || bytes + batch.bytes > MAX_SCRIPT_BYTES)
          )
            break;
          count++;
          entries += batch.entries.length;
          bytes += batch.bytes;
        }
        const taken = current.pending.slice(0, count);
        const last = taken.at(-1) as Batch;
        const { set, remove } = positionChanges(current.committed, last.positions);
        let result: RedisValue;
        try {
          result = await redis.eval(
            APPEND_SCRIPT,
            [keys.stream, keys.seq, keys.epoch, keys.writer, keys.positions],
            appendArgs({
              lease: current.lease,
              candidateEpoch: randomHex8(),
              minSeq: options.minSeq(),
              maxEntries: options.maxEntries,
              batchId: "",
              markerTtlMs: 0,
              entries: taken.flatMap((batch) => batch.entries),
              set,
              remove,
            }),
          );
        } catch (error) {
          endTerm(current, `appending to the stream failed (${String(error)}); retrying when Redis answers`);
          return;
        }
        if (result === -1) {
          endTerm(current, "the writer lease was lost");
          return;
        }
        if (!current.active) return;
        current.pending.splice(0, count);
        current.pendingBytes -= bytes;
        current.committed = last.positions;
        status.entriesWritten += entries;
        if (current.pendingBytes <= QUEUE_LOW_WATER_BYTES) wake(current);
      }
    } finally {
      current.sending = false;
    }
  };

  const hooksFor = (
    current: Term,
    positions: PositionStore,
    takeOverSince: number | undefined,
  ): WriterHooks => ({
    positions,
    takeOverSince,
    emit(entry) {
      if (!current.active) return;
      const json = options.serialize(entry);
      current.current.push(json);
      current.currentBytes += json.length;
    },
    onBatchEnd() {
      if (!current.active || current.follower === null) return undefined;
      // The directory is gone from here (not its files): committing would drop every file's position, and a
      // successor that still sees them would read them again. This term ends instead (see tick).
      if (current.scanned && !current.follower.directoryExists()) return undefined;
      const positions = new Map<string, string>();
      for (const position of current.follower.positions())
        positions.set(current.codec.field(position.identity), encodePosition(position));
      const previous = current.pending.at(-1)?.positions ?? current.committed;
      // Nothing new: no commit, except a term's first, which tells a successor that it takes over.
      if (current.current.length === 0 && previous.has(FOLLOWED_FIELD) && sameFiles(previous, positions))
        return undefined;
      // When this writer last committed: a successor reads files that changed after it from their start.
      positions.set(FOLLOWED_FIELD, String(Date.now()));
      current.pending.push({ entries: current.current, bytes: current.currentBytes, positions });
      current.pendingBytes += current.currentBytes;
      current.current = [];
      current.currentBytes = 0;
      void send(current);
      if (current.pendingBytes <= QUEUE_HIGH_WATER_BYTES) return undefined;
      return new Promise<void>((resolve) => current.waiters.push(resolve));
    },
  });

  /** Takes the lease if it is free; on success starts a term from the positions in Redis. */
  const acquire = async () => {
    const lease = `${instanceId}/${randomHex8()}`;
    const taken = await redis.eval(
      ACQUIRE_LEASE_SCRIPT,
      [keys.writer, keys.directory],
      [lease, leaseMs, `${instanceId}/`],
    );
    if (taken !== 1) return;
    let codec: PositionCodec;
    let reply: RedisValue;
    try {
      codec = createPositionCodec(options.dir);
      reply = await redis.send("HGETALL", [keys.positions]);
    } catch (error) {
      void release(lease);
      throw error;
    }
    if (stopped) {
      void release(lease);
      return;
    }
    const next: Term = {
      lease,
      follower: null,
      codec,
      active: true,
      current: [],
      currentBytes: 0,
      pending: [],
      pendingBytes: 0,
      committed: new Map(hashEntries(reply)),
      sending: false,
      waiters: [],
      firstPass: Promise.resolve(),
      scanned: false,
    };
    const lastCommit = Number(next.committed.get(FOLLOWED_FIELD));
    const hooks = hooksFor(
      next,
      sharedPositionStore(decodePositions(reply, codec, log)),
      Number.isFinite(lastCommit) && next.committed.has(FOLLOWED_FIELD)
        ? lastCommit - CLOCK_SKEW_MS
        : undefined,
    );
    const follower = options.createFollower(hooks);
    next.follower = follower;
    term = next;
    status.termsStarted++;
    status.leaseHolder = instanceId;
    log("info", `writing the log directory to the shared stream (writer lease ${lease})`);
    next.firstPass = follower
      .start()
      // Commits where the first pass starts even when it followed no file, so the next term takes over.
      .then(() => {
        next.scanned = true;
        void hooks.onBatchEnd();
      })
      .catch((error: unknown) => {
        endTerm(next, `following the log directory failed: ${String(error)}`);
      });
  };

  const release = async (lease: string) => {
    try {
      // EVAL, not EVALSHA: at shutdown the connection closes right after, leaving no time for a NOSCRIPT retry.
      await redis.send("EVAL", [RELEASE_LEASE_SCRIPT.source, 1, keys.writer, lease]);
    } catch (error) {
      log("warn", `could not release the writer lease (it expires by itself): ${String(error)}`);
    }
  };

  const refreshStatus = async () => {
    const reply = await redis.send("MGET", [keys.writer, keys.seq, keys.directory]);
    const [holder, seq, directory] = Array.isArray(reply) ? reply : [];
    status.leaseHolder = typeof holder === "string" ? (holder.split("/")[0] ?? null) : null;
    status.streamSeq = Number(seq ?? 0) || 0;
    status.writerSeesDirectory = status.leaseHolder === null || directory == null ? null : directory === "1";
  };

  const tick = async () => {
    if (ticking || stopped) return;
    ticking = true;
    const current = term;
    try {
      if (current?.scanned && current.follower?.directoryExists() === false) {
        // This instance lost the directory (an unmounted volume): hand the lease to one that sees it. What
        // was committed is where the next writer, possibly this one again later, continues.
        endTerm(current, null);
        log("warn", "the log directory is gone here: handing the writer lease to an instance that sees it");
        await release(current.lease);
      } else if (current !== null) {
        const directory = current.follower?.directoryExists() ? "1" : "0";
        const renewed = await redis.eval(
          RENEW_LEASE_SCRIPT,
          [keys.writer, keys.directory],
          [current.lease, leaseMs, directory],
        );
        if (renewed !== 1) endTerm(current, "the writer lease was lost");
      } else if (options.canFollow()) {
        await acquire();
      }
      await refreshStatus();
    } catch (error) {
      if (current !== null) endTerm(current, `renewing the writer lease failed (${String(error)})`);
      else if (term !== null) endTerm(term, `starting to write failed (${String(error)})`);
    } finally {
      ticking = false;
    }
  };

  return {
    async start() {
      if (timer !== null || stopped) return;
      timer = setInterval(() => void tick(), tickMs);
      timer.unref?.();
      await tick();
      await term?.firstPass;
    },
    stop() {
      stopped = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
      const current = term;
      if (current === null) return;
      endTerm(current, null);
      void release(current.lease);
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
