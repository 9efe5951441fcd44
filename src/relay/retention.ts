/**
 * Retention: deletes deliveries past the age or count limit, oldest first, once at start and then every
 * `intervalMs`. One pass at a time; a pass runs transactions of PRUNE_BATCH until nothing is past the
 * limits, yielding to the event loop between them.
 */
import { yieldToEventLoop } from "../process/event-loop.ts";
import type { DeliveryStore } from "./store.ts";

/**
 * Deliveries deleted per retention transaction, so one never holds the write lock (or the event loop) for
 * long.
 */
const PRUNE_BATCH = 1000;

export interface RetentionOptions {
  store: Pick<DeliveryStore, "pruneDeliveries">;
  /** Deliveries older than this are deleted; 0 keeps them forever. */
  retentionMs: number;
  /** Only the newest this many deliveries (over all buckets) are kept; 0: any number. */
  retentionCount: number;
  intervalMs: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

export interface Retention {
  /** Deliveries deleted since start. */
  deleted(): number;
  /** No further pass starts; resolves once the pass under way ended (after its current transaction). */
  stop(): Promise<void>;
}

export function startRetention(options: RetentionOptions): Retention {
  const { store, log } = options;
  let deletedTotal = 0;
  let stopped = false;
  /** The pass under way, if any: stop() waits for it. */
  let pruning: Promise<void> | null = null;

  const pass = async () => {
    try {
      const policy = {
        receivedBefore: options.retentionMs > 0 ? Date.now() - options.retentionMs : null,
        keepNewest: options.retentionCount > 0 ? options.retentionCount : null,
      };
      for (let deleted = PRUNE_BATCH; deleted === PRUNE_BATCH && !stopped; ) {
        deleted = await store.pruneDeliveries(policy, PRUNE_BATCH);
        deletedTotal += deleted;
        await yieldToEventLoop();
      }
    } catch (error) {
      log("error", `deleting old deliveries failed: ${String(error)}`);
    }
  };
  const prune = () => {
    if (pruning !== null || stopped) return;
    pruning = pass().finally(() => {
      pruning = null;
    });
  };

  const retains = options.retentionMs > 0 || options.retentionCount > 0;
  if (retains) prune();
  const timer = retains ? setInterval(prune, options.intervalMs) : null;
  timer?.unref();

  return {
    deleted: () => deletedTotal,
    async stop() {
      stopped = true;
      if (timer !== null) clearInterval(timer);
      await pruning;
    },
  };
}
