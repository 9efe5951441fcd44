/**
 * One term of the log writer: a follower started from the positions in Redis, whose entries are gathered in
 * batches, each with the follower positions right after it, and appended by the fenced append script. A term
 * ends at its first failure (see log-writer.ts), dropping what it did not commit.
 */
import type { LogEntry } from "../logs/entry.ts";
import type { LogFollower } from "../logs/follow.ts";
import type { PositionStore } from "../logs/positions.ts";
import {
  decodePositions,
  encodePosition,
  FOLLOWED_FIELD,
  hashEntries,
  type PositionCodec,
  positionChanges,
  sharedPositionStore,
} from "./log-positions.ts";
import { APPEND_SCRIPT, appendArgs, BATCH_MARKER_TTL_MS, type LogKeys, randomHex8 } from "./log-scripts.ts";
import type { Redis, RedisValue } from "./redis.ts";

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

/**
 * Most entries and bytes in one append script, and so in one stream entry: bounds a script's run time, its
 * arguments and what a mirror parses at once. 1 MiB rather than 4, alternated runs: one instance took 6–14 %
 * less CPU per line in 3 of 4 (1 % more in the fourth), two instances the same, a mirror-only instance peaked
 * 10–45 MB lower, and the longest pause between arrivals shrank (38–59 against 52–107 ms).
 */
const MAX_SCRIPT_ENTRIES = 1024;
const MAX_SCRIPT_BYTES = 1024 * 1024;
/**
 * Append scripts in flight at once: a second one keeps Redis busy while the writer handles the first one's
 * reply (one instance, alternated rounds: 7 of 9 faster, by about a quarter at the median).
 */
const SCRIPTS_IN_FLIGHT = 2;
/** Uncommitted bytes past which the follower waits for Redis, and under which it continues. */
const QUEUE_HIGH_WATER_BYTES = 16 * 1024 * 1024;
const QUEUE_LOW_WATER_BYTES = 4 * 1024 * 1024;
/** Clocks of the hosts sharing a directory may differ by this much; erring early re-reads, never skips. */
const CLOCK_SKEW_MS = 2_000;

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

export interface Batch {
  entries: string[];
  bytes: number;
  /** Positions right after the batch: Redis field → stored value. */
  positions: Map<string, string>;
}

export interface WriterTermOptions {
  redis: Redis;
  keys: LogKeys;
  /** The fencing token of the lease this term holds. */
  lease: string;
  codec: PositionCodec;
  /** The positions hash as read when the lease was taken (HGETALL reply). */
  positionsReply: RedisValue;
  maxEntries: number;
  /** A new follower for the term, reading with exact positions. */
  createFollower(hooks: WriterHooks): LogFollower;
  minSeq(): number;
  /** An entry as stored in the stream: serializeEntry's JSON (secrets masked), no cursor. */
  serialize(entry: LogEntry): string;
  /** serialize() masks secrets. */
  masked: boolean;
  /** One stream entry per log entry (CLUSTER_LOG_STREAM_FORMAT=entries), for a rolling upgrade. */
  oneStreamEntryEach?: boolean;
  /** Entries appended to the stream. */
  committed(entries: number): void;
  /** The term ended; `reason` says why when it was lost rather than handed over. */
  ended(reason: string | null): void;
  log: LogFn;
}

export interface WriterTerm {
  readonly lease: string;
  readonly follower: LogFollower;
  /** Starts the follower's first pass; resolves once it is over (or the term ended during it). */
  begin(): Promise<void>;
  /** The first pass is over and the follower no longer sees the directory. */
  directoryGone(): boolean;
  /** Nothing read and not committed is kept: the next term reads it again. */
  end(reason: string | null): void;
}

/** Whether `next` (files only) holds the same positions as `previous` (files and the commit time). */
export function sameFiles(previous: ReadonlyMap<string, string>, next: ReadonlyMap<string, string>): boolean {
  const previousFiles = previous.has(FOLLOWED_FIELD) ? previous.size - 1 : previous.size;
  if (previousFiles !== next.size) return false;
  for (const [key, value] of next) if (previous.get(key) !== value) return false;
  return true;
}

/**
 * How many of the oldest pending batches one append script takes: at least one, then as many as fit in
 * `maxEntries` and `maxBytes`.
 */
export function batchesPerScript(
  pending: ReadonlyArray<Pick<Batch, "entries" | "bytes">>,
  maxEntries = MAX_SCRIPT_ENTRIES,
  maxBytes = MAX_SCRIPT_BYTES,
): { count: number; entries: number; bytes: number } {
  let count = 0;
  let entries = 0;
  let bytes = 0;
  for (const batch of pending) {
    if (count > 0 && (entries + batch.entries.length > maxEntries || bytes + batch.bytes > maxBytes)) break;
    count++;
    entries += batch.entries.length;
    bytes += batch.bytes;
  }
  return { count, entries, bytes };
}

/** When the previous term last committed, minus the clock skew; undefined when no term committed yet. */
export function takeOverSince(committed: ReadonlyMap<string, string>): number | undefined {
  const lastCommit = Number(committed.get(FOLLOWED_FIELD));
  return Number.isFinite(lastCommit) && committed.has(FOLLOWED_FIELD)
    ? lastCommit - CLOCK_SKEW_MS
    : undefined;
}

/**
 * One append script call for `taken`, moving the stored positions from `from` to the last batch's. The
 * call's id goes into the term's marker; `previousId`, when given, must be there (that call was applied).
 */
function appendBatches(
  options: WriterTermOptions,
  from: ReadonlyMap<string, string>,
  taken: readonly Batch[],
  ids: { id: string; previousId: string },
): Promise<RedisValue> {
  const { redis, keys } = options;
  const { set, remove } = positionChanges(from, (taken.at(-1) as Batch).positions);
  return redis.eval(
    APPEND_SCRIPT,
    [keys.stream, keys.seq, keys.epoch, keys.writer, keys.positions, keys.batch(options.lease)],
    appendArgs({
      lease: options.lease,
      candidateEpoch: randomHex8(),
      minSeq: options.minSeq(),
      maxEntries: options.maxEntries,
      batchId: ids.id,
      markerTtlMs: BATCH_MARKER_TTL_MS,
      entries: taken.flatMap((batch) => batch.entries),
      masked: options.masked,
      set,
      remove,
      previousBatchId: ids.previousId,
      oneStreamEntryEach: options.oneStreamEntryEach,
      // Every entry comes from options.serialize: serializeEntry's JSON of an entry without a cursor.
      plain: true,
    }),
  );
}

/** The follower's positions as the positions hash stores them: Redis field → stored value. */
function storedPositions(follower: LogFollower, codec: PositionCodec): Map<string, string> {
  const positions = new Map<string, string>();
  for (const position of follower.positions())
    positions.set(codec.field(position.identity), encodePosition(position));
  return positions;
}

interface CommitQueue {
  /** Positions in Redis after the last commit (or as read at the start of the term). */
  committed(): ReadonlyMap<string, string>;
  /** Positions after the newest batch, committed or not. */
  latest(): ReadonlyMap<string, string>;
  /** Queues a batch and starts sending; resolves once the queue is under its low water, if it is over its high. */
  push(batch: Batch): Promise<void> | undefined;
  /** Drops every batch not committed and releases whoever waits for room. */
  close(): void;
}

/** What a reply of the append script means for the term: null when the batch was applied. */
function appendFailure(result: RedisValue): string | null {
  if (result === -1) return "the writer lease was lost";
  if (result === -3) return "an append sent before this one was not applied";
  return null;
}

/**
 * Batches not yet committed, oldest first, sent by up to SCRIPTS_IN_FLIGHT append scripts at a time (each
 * names its predecessor, so it applies only right after it); `fail` ends the term.
 */
function createCommitQueue(options: WriterTermOptions, fail: (reason: string) => void): CommitQueue {
  let open = true;
  /** The first `sent` ones are in flight. */
  let pending: Batch[] = [];
  let sent = 0;
  let inFlight = 0;
  let pendingBytes = 0;
  let committed = new Map(hashEntries(options.positionsReply));
  /** Positions and id of the newest script sent: the next one continues from them. */
  let head: { positions: ReadonlyMap<string, string>; id: string } = { positions: committed, id: "" };
  let waiters: Array<() => void> = [];

  const wake = () => {
    const woken = waiters;
    waiters = [];
    for (const resolve of woken) resolve();
  };

  const confirmed = (count: number, entries: number, bytes: number, positions: Map<string, string>) => {
    pending.splice(0, count);
    sent -= count;
    pendingBytes -= bytes;
    committed = positions;
    options.committed(entries);
    if (pendingBytes <= QUEUE_LOW_WATER_BYTES) wake();
  };

  const send = () => {
    while (open && inFlight < SCRIPTS_IN_FLIGHT && sent < pending.length) {
      const { count, entries, bytes } = batchesPerScript(pending.slice(sent));
      const taken = pending.slice(sent, sent + count);
      const ids = { id: crypto.randomUUID(), previousId: head.id };
      const from = head.positions;
      head = { positions: (taken.at(-1) as Batch).positions, id: ids.id };
      sent += count;
      inFlight++;
      appendBatches(options, from, taken, ids).then(
        (result) => {
          inFlight--;
          if (!open) return;
          const failure = appendFailure(result);
          if (failure !== null) return fail(failure);
          confirmed(count, entries, bytes, (taken.at(-1) as Batch).positions);
          send();
        },
        (error: unknown) => {
          inFlight--;
          fail(`appending to the stream failed (${String(error)}); retrying when Redis answers`);
        },
      );
    }
  };

  return {
    committed: () => committed,
    latest: () => pending.at(-1)?.positions ?? committed,
    push(batch) {
      pending.push(batch);
      pendingBytes += batch.bytes;
      send();
      if (pendingBytes <= QUEUE_HIGH_WATER_BYTES) return undefined;
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    close() {
      open = false;
      pending = [];
      pendingBytes = 0;
      wake();
    },
  };
}

export function createWriterTerm(options: WriterTermOptions): WriterTerm {
  const { lease, codec, log } = options;
  let active = true;
  /** Entries emitted since the last batch end. */
  let current: string[] = [];
  let currentBytes = 0;
  /** The first pass over the directory is done: from then on a missing directory is really gone. */
  let scanned = false;

  const end = (reason: string | null) => {
    if (!active) return;
    active = false;
    follower.stop();
    queue.close();
    current = [];
    options.ended(reason);
  };
  const queue = createCommitQueue(options, end);

  const hooks: WriterHooks = {
    positions: sharedPositionStore(decodePositions(options.positionsReply, codec, log)),
    takeOverSince: takeOverSince(queue.committed()),
    emit(entry) {
      if (!active) return;
      const json = options.serialize(entry);
      current.push(json);
      currentBytes += json.length;
    },
    onBatchEnd() {
      if (!active) return undefined;
      // The directory is gone from here (not its files): committing would drop every file's position, and a
      // successor that still sees them would read them again. This term ends instead (see the writer's tick).
      if (scanned && !follower.directoryExists()) return undefined;
      const positions = storedPositions(follower, codec);
      const previous = queue.latest();
      // Nothing new: no commit, except a term's first, which tells a successor that it takes over.
      if (current.length === 0 && previous.has(FOLLOWED_FIELD) && sameFiles(previous, positions))
        return undefined;
      // When this writer last committed: a successor reads files that changed after it from their start.
      positions.set(FOLLOWED_FIELD, String(Date.now()));
      const batch: Batch = { entries: current, bytes: currentBytes, positions };
      current = [];
      currentBytes = 0;
      return queue.push(batch);
    },
  };
  const follower = options.createFollower(hooks);

  return {
    lease,
    follower,
    begin: () =>
      follower
        .start()
        // Commits where the first pass starts even when it followed no file, so the next term takes over.
        .then(() => {
          scanned = true;
          void hooks.onBatchEnd();
        })
        .catch((error: unknown) => {
          end(`following the log directory failed: ${String(error)}`);
        }),
    directoryGone: () => scanned && !follower.directoryExists(),
    end,
  };
}
