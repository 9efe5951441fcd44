/**
 * Waiting, bounded, for a stream to reach a position: in cluster mode a client may resume on this instance
 * with a cursor another instance gave out a moment before this one read that far. The stream's writer calls
 * `advance` as it goes; waiters wake on that event, not on a poll.
 */

export interface PositionWaiter {
  /** The stream now holds everything up to `position`. */
  advance(position: number): void;
  /** Resolves once `reached()` covers `position` (true), or after `timeoutMs` (false). */
  wait(position: number, timeoutMs: number): Promise<boolean>;
}

/** Most waiters at once; more resolve false at once (they continue from what the stream has). */
export const MAX_POSITION_WAITERS = 10_000;

export function createPositionWaiter(reached: () => number): PositionWaiter {
  const waiters = new Set<{ position: number; done: (ok: boolean) => void }>();
  return {
    advance(position) {
      if (waiters.size === 0) return;
      for (const waiter of waiters) if (waiter.position <= position) waiter.done(true);
    },
    wait(position, timeoutMs) {
      if (reached() >= position) return Promise.resolve(true);
      if (timeoutMs <= 0 || waiters.size >= MAX_POSITION_WAITERS) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const waiter = {
          position,
          done(ok: boolean) {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(ok);
          },
        };
        const timer = setTimeout(() => waiter.done(false), timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}
