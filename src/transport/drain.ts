/**
 * Waiting for a socket's send queue to go down, for senders that feed a slow client at its own pace (log and
 * relay catch-up). Bun's drain event is progress but not necessarily enough — a 25 MiB message drains in many
 * steps — so each drain event re-checks the queue and restarts the stall timer; a short poll is the safety
 * net should an event not come.
 */

/** How often a waiting sender re-checks the queue besides the drain events. */
const DRAIN_POLL_MS = 25;

export interface DrainWaiter {
  /** Resolves true once `isLow()`, false when nothing drained for the stall timeout. One wait at a time. */
  wait(): Promise<boolean>;
  /** Call from the socket's drain handler (and on close, so a waiting sender wakes up and sees it). */
  drained(): void;
}

export function createDrainWaiter(isLow: () => boolean, stallTimeoutMs: number): DrainWaiter {
  let onDrain: (() => void) | null = null;
  return {
    wait() {
      return new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(stall);
          clearInterval(poll);
          onDrain = null;
          resolve(ok);
        };
        let stall = setTimeout(() => done(false), stallTimeoutMs);
        const poll = setInterval(() => {
          if (isLow()) done(true);
        }, DRAIN_POLL_MS);
        onDrain = () => {
          if (isLow()) return done(true);
          clearTimeout(stall);
          stall = setTimeout(() => done(false), stallTimeoutMs);
        };
      });
    },
    drained() {
      onDrain?.();
    },
  };
}
