/**
 * Failed-authentication limiter per client address: a one-minute window opens at an address's first failure.
 * Once `maxFailures` failures fall in the window, further attempts from that address are refused without
 * checking credentials until the window ends.
 */

/** Addresses tracked at once; at the limit the address whose window started first is forgotten. */
export const MAX_TRACKED_ADDRESSES = 10_000;
const WINDOW_MS = 60_000;

export interface AuthLimiter {
  /** True when this address may try to authenticate now. */
  allows(address: string): boolean;
  recordFailure(address: string): void;
  tracked(): number;
}

export function createAuthLimiter(options: {
  maxFailures: number;
  now?: () => number;
  maxTracked?: number;
}): AuthLimiter {
  const now = options.now ?? Date.now;
  const maxTracked = options.maxTracked ?? MAX_TRACKED_ADDRESSES;
  /** Insertion order is window-start order: a window restarts by deleting and re-inserting. */
  const windows = new Map<string, { start: number; failures: number }>();

  const current = (address: string) => {
    const window = windows.get(address);
    if (window === undefined) return undefined;
    if (now() - window.start >= WINDOW_MS) {
      windows.delete(address);
      return undefined;
    }
    return window;
  };

  return {
    allows(address) {
      return (current(address)?.failures ?? 0) < options.maxFailures;
    },
    recordFailure(address) {
      const window = current(address);
      if (window !== undefined) {
        window.failures++;
        return;
      }
      if (windows.size >= maxTracked) {
        const oldest = windows.keys().next();
        if (!oldest.done) windows.delete(oldest.value);
      }
      windows.set(address, { start: now(), failures: 1 });
    },
    tracked: () => windows.size,
  };
}
