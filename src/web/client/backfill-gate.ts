/**
 * History waits for the current connection's backfill before loading older entries, so the two meet
 * without repeats; if the backfill is slow, it loads anyway after a while.
 */
export interface BackfillGate {
  /** A new connection's backfill is on its way (the filters changed, or the page starts). */
  reset(): void;
  /** The backfill is in, or will never come (the stream went live or failed). */
  open(): void;
  /** Resolves when the gate opens or the wait runs out. */
  passed(): Promise<void>;
}

export function createBackfillGate(waitMs: number): BackfillGate {
  let resolve: () => void = () => {};
  let gate = Promise.resolve();
  return {
    reset() {
      gate = new Promise<void>((done) => {
        resolve = done;
        window.setTimeout(done, waitMs);
      });
    },
    open: () => resolve(),
    passed: () => gate,
  };
}
