/**
 * Failed-authentication limiter, one for every credential path (relay tokens, LOGS_TOKEN by header, query or
 * sign-in form). Failures are counted per client address and per credential: a one-minute window opens at the
 * first failure of that pair. Once `maxFailures` failures fall in the window, further attempts with that
 * credential from that address are refused without checking them until the window ends; the same address
 * with another credential is still served, so one guesser behind a proxy or NAT does not lock out everyone
 * else there.
 *
 * `credential` names what is being guessed, never a secret: a relay token's public key, or a fixed name for a
 * secret that has no public part (LOGS_TOKEN), where the address is then all there is to tell callers apart.
 */

/** Address and credential pairs tracked at once; at the limit the pair whose window started first is forgotten. */
export const MAX_TRACKED_ADDRESSES = 10_000;
const WINDOW_MS = 60_000;
/** What a refused caller may be told to wait, in seconds: at most one window. */
export const RETRY_AFTER_SECONDS = WINDOW_MS / 1000;

export interface AuthLimiter {
  /** True when this address may try this credential now. */
  allows(address: string, credential: string): boolean;
  recordFailure(address: string, credential: string): void;
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
  // A newline cannot occur in an address or in a header-borne credential name.
  const keyOf = (address: string, credential: string) => `${address}\n${credential}`;

  const current = (key: string) => {
    const window = windows.get(key);
    if (window === undefined) return undefined;
    if (now() - window.start >= WINDOW_MS) {
      windows.delete(key);
      return undefined;
    }
    return window;
  };

  return {
    allows(address, credential) {
      return (current(keyOf(address, credential))?.failures ?? 0) < options.maxFailures;
    },
    recordFailure(address, credential) {
      const key = keyOf(address, credential);
      const window = current(key);
      if (window !== undefined) {
        window.failures++;
        return;
      }
      if (windows.size >= maxTracked) {
        const oldest = windows.keys().next();
        if (!oldest.done) windows.delete(oldest.value);
      }
      windows.set(key, { start: now(), failures: 1 });
    },
    tracked: () => windows.size,
  };
}
