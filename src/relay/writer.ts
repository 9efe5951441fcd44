/**
 * Group commit: deliveries that arrive together are stored in one transaction, so one fsync covers many
 * webhooks. The first append schedules a flush for the next event-loop turn (`setImmediate`, after the requests
 * read in this turn); everything queued by then is written as one batch (bounded by MAX_BATCH_*).
 * Appends made while a batch waits for its fsync form the next batch.
 *
 * Contract: an append resolves only after the transaction holding its delivery committed. `onCommitted` runs
 * for each new (non-duplicate) delivery in store order, right after its commit and before any sender is
 * answered, so relayed messages leave in the order the store assigned.
 */
import type { AppendResult, DeliveryStore, NewDelivery } from "./store.ts";

/** Rows per transaction: keeps one commit short enough not to stall the event loop. */
export const MAX_BATCH_DELIVERIES = 1000;
/** Body bytes per transaction, for the same reason when bodies are large. */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/**
 * Batches committed and waiting to become durable at once. While one waits for its fsync the next can commit,
 * so the wait costs latency, not throughput.
 */
export const MAX_BATCHES_IN_FLIGHT = 4;
/** Deliveries waiting for a commit; past it `append` rejects with `WriterBusyError` (the sender gets 503). */
export const MAX_QUEUED_DELIVERIES = 20_000;
/** Body bytes waiting for a commit; same outcome past it. */
export const MAX_QUEUED_BYTES = 512 * 1024 * 1024;

/**
 * Upper bounds (seconds) of the commit-duration histogram: from a page-cache commit (well under 1 ms) to an
 * fsync on a busy disk.
 */
export const COMMIT_SECONDS_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
] as const;

/** How long store transactions took, from the call to its settlement (durable or failed). */
export interface CommitDurations {
  /** Transactions per bucket of COMMIT_SECONDS_BUCKETS (not cumulative); the last element counts the rest. */
  counts: number[];
  sumSeconds: number;
}

export class WriterBusyError extends Error {
  constructor() {
    super("too many deliveries waiting to be stored");
  }
}

export interface CommittedDelivery<C> {
  id: string;
  delivery: NewDelivery;
  /** Whatever the caller passed along with the delivery (names for the relayed message). */
  context: C;
}

export interface DeliveryWriterOptions<C> {
  store: DeliveryStore;
  onCommitted: (committed: CommittedDelivery<C>) => void;
  log: (level: "info" | "warn" | "error", message: string) => void;
  limits?: Partial<{
    batchDeliveries: number;
    batchBytes: number;
    queuedDeliveries: number;
    queuedBytes: number;
  }>;
}

export interface WriterStats {
  queued: number;
  batches: number;
  committed: number;
  duplicates: number;
  /** Deliveries whose transaction failed: their senders were refused and nothing of them was stored. */
  failed: number;
  largestBatch: number;
}

export interface DeliveryWriter<C> {
  append(delivery: NewDelivery, context: C): Promise<AppendResult>;
  /** Resolves once nothing is queued or being written. */
  idle(): Promise<void>;
  stats(): WriterStats;
  commitDurations(): CommitDurations;
}

interface Pending<C> {
  delivery: NewDelivery;
  context: C;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/** The commit-duration histogram: `record` after each transaction settles. */
function commitHistogram() {
  const durations: CommitDurations = { counts: COMMIT_SECONDS_BUCKETS.map(() => 0).concat(0), sumSeconds: 0 };
  return {
    record(startedAt: number) {
      const seconds = (performance.now() - startedAt) / 1000;
      let bucket = COMMIT_SECONDS_BUCKETS.findIndex((bound) => seconds <= bound);
      if (bucket === -1) bucket = COMMIT_SECONDS_BUCKETS.length;
      durations.counts[bucket] = (durations.counts[bucket] ?? 0) + 1;
      durations.sumSeconds += seconds;
    },
    snapshot: (): CommitDurations => ({ counts: [...durations.counts], sumSeconds: durations.sumSeconds }),
  };
}

type Limits = Required<NonNullable<DeliveryWriterOptions<unknown>["limits"]>>;

/** Deliveries waiting for a transaction, with their body bytes, cut into batches in arrival order. */
function pendingQueue<C>(limits: Limits) {
  let queue: Pending<C>[] = [];
  let queuedBytes = 0;
  return {
    get length() {
      return queue.length;
    },
    /** False when the delivery would pass a queue bound (the sender is refused). */
    admits: (bodyBytes: number) =>
      queue.length < limits.queuedDeliveries && queuedBytes + bodyBytes <= limits.queuedBytes,
    push(pending: Pending<C>) {
      queue.push(pending);
      queuedBytes += pending.delivery.body.byteLength;
    },
    /** The oldest deliveries within the batch bounds (always at least one, however large). */
    take(): Pending<C>[] {
      let count = 0;
      let bytes = 0;
      while (count < queue.length && count < limits.batchDeliveries) {
        const size = (queue[count] as Pending<C>).delivery.body.byteLength;
        if (count > 0 && bytes + size > limits.batchBytes) break;
        bytes += size;
        count++;
      }
      const batch = queue.slice(0, count);
      queue = queue.slice(count);
      queuedBytes -= bytes;
      return batch;
    },
  };
}

type Stats = Omit<WriterStats, "queued">;

/** A committed batch: relays each new delivery in store order, then answers every sender. */
function finishBatch<C>(
  options: DeliveryWriterOptions<C>,
  stats: Stats,
  batch: Pending<C>[],
  results: AppendResult[],
) {
  stats.batches++;
  stats.largestBatch = Math.max(stats.largestBatch, batch.length);
  batch.forEach((pending, i) => {
    const result = results[i];
    if (result === undefined || result.duplicate) {
      stats.duplicates++;
      return;
    }
    stats.committed++;
    try {
      options.onCommitted({ id: result.id, delivery: pending.delivery, context: pending.context });
    } catch (error) {
      // Stored is stored: a failure to relay must not turn into an error for the sender.
      options.log("error", `relaying delivery ${result.id} failed: ${String(error)}`);
    }
  });
  batch.forEach((pending, i) => {
    pending.resolve(results[i] ?? { id: null, duplicate: true });
  });
}

function failBatch<C>(options: DeliveryWriterOptions<C>, stats: Stats, batch: Pending<C>[], error: unknown) {
  stats.failed += batch.length;
  options.log("error", `storing ${batch.length} deliveries failed: ${String(error)}`);
  for (const pending of batch) pending.reject(error);
}

export function createDeliveryWriter<C>(options: DeliveryWriterOptions<C>): DeliveryWriter<C> {
  const queue = pendingQueue<C>({
    batchDeliveries: options.limits?.batchDeliveries ?? MAX_BATCH_DELIVERIES,
    batchBytes: options.limits?.batchBytes ?? MAX_BATCH_BYTES,
    queuedDeliveries: options.limits?.queuedDeliveries ?? MAX_QUEUED_DELIVERIES,
    queuedBytes: options.limits?.queuedBytes ?? MAX_QUEUED_BYTES,
  });
  let scheduled = false;
  let inFlight = 0;
  let finished: Promise<void> = Promise.resolve();
  let idleWaiters: Array<() => void> = [];
  const stats: Stats = { batches: 0, committed: 0, duplicates: 0, failed: 0, largestBatch: 0 };
  const durations = commitHistogram();
  const isIdle = () => inFlight === 0 && !scheduled && queue.length === 0;

  const wakeIfIdle = () => {
    if (!isIdle()) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const wake of waiters) wake();
  };

  /** The batch's transaction, settled into what completes it (finish or fail), never rejecting. */
  const commit = (batch: Pending<C>[]): Promise<() => void> => {
    const startedAt = performance.now();
    try {
      return options.store.appendDeliveries(batch.map((pending) => pending.delivery)).then(
        (results) => {
          durations.record(startedAt);
          return () => finishBatch(options, stats, batch, results);
        },
        (error: unknown) => {
          durations.record(startedAt);
          return () => failBatch(options, stats, batch, error);
        },
      );
    } catch (error) {
      return Promise.resolve(() => failBatch(options, stats, batch, error));
    }
  };

  /**
   * Starts a batch without waiting for the previous one to become durable: the store commits in call order,
   * and `finished` chains the completions so onCommitted and the answers follow that order too.
   */
  const flush = () => {
    scheduled = false;
    while (queue.length > 0 && inFlight < MAX_BATCHES_IN_FLIGHT) {
      inFlight++;
      // Settled into a value at once, so a failure is handled even while earlier batches are still pending.
      const outcome = commit(queue.take());
      finished = finished
        .then(() => outcome)
        .then((complete) => complete())
        // Keeps the chain alive for later batches whatever happened to this one.
        .catch((error: unknown) => options.log("error", `completing a batch failed: ${String(error)}`))
        .finally(() => {
          inFlight--;
          if (queue.length > 0) schedule();
          wakeIfIdle();
        });
    }
  };

  const schedule = () => {
    if (scheduled || inFlight >= MAX_BATCHES_IN_FLIGHT) return;
    scheduled = true;
    setImmediate(flush);
  };

  return {
    append(delivery, context) {
      if (!queue.admits(delivery.body.byteLength)) return Promise.reject(new WriterBusyError());
      return new Promise<AppendResult>((resolve, reject) => {
        queue.push({ delivery, context, resolve, reject });
        schedule();
      });
    },
    idle() {
      if (isIdle()) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    stats: () => ({ queued: queue.length, ...stats }),
    commitDurations: () => durations.snapshot(),
  };
}
