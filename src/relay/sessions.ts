/**
 * The relay's open sockets: which authenticated session uses which token (so a revocation closes them), how
 * many wait for their `auth`, and the keepalive pings, whose timer runs only while a session is
 * authenticated (no timer keeps the process alive).
 */
import type { SessionHandle } from "./session.ts";

/** Sockets waiting for their `auth` at once; past it new sockets are closed with 1013 (try again later). */
export const MAX_PENDING_AUTH = 4096;

export interface SessionRegistry {
  /** Counts an authenticated session under its token; the returned function removes it. */
  add(tokenId: number, handle: SessionHandle): () => void;
  /** Closes the token's open sessions (4003). */
  revoke(tokenId: number): void;
  /** Tokens with open sessions. */
  tokenIds(): number[];
  /** Counts a socket as waiting for auth; false when MAX_PENDING_AUTH are. */
  admitPending(): boolean;
  releasePending(): void;
  stats(): { authenticated: number; pendingAuth: number };
  /** Stops the pings; sessions added later are not pinged. */
  close(): void;
}

export function createSessionRegistry(pingIntervalMs: number): SessionRegistry {
  const sessionsByToken = new Map<number, Set<SessionHandle>>();
  let authenticated = 0;
  let pendingAuth = 0;
  let closed = false;
  let pingTimer: ReturnType<typeof setInterval> | null = null;

  const startPings = () => {
    if (closed || pingTimer !== null) return;
    pingTimer = setInterval(() => {
      for (const handles of sessionsByToken.values()) for (const handle of handles) handle.ping();
    }, pingIntervalMs);
    pingTimer.unref();
  };

  const stopPings = () => {
    if (pingTimer !== null) clearInterval(pingTimer);
    pingTimer = null;
  };

  return {
    add(tokenId, handle) {
      let handles = sessionsByToken.get(tokenId);
      if (handles === undefined) {
        handles = new Set();
        sessionsByToken.set(tokenId, handles);
      }
      handles.add(handle);
      authenticated++;
      startPings();
      return () => {
        authenticated--;
        const current = sessionsByToken.get(tokenId);
        current?.delete(handle);
        if (current?.size === 0) sessionsByToken.delete(tokenId);
        if (authenticated === 0) stopPings();
      };
    },
    revoke(tokenId) {
      const handles = sessionsByToken.get(tokenId);
      if (handles === undefined) return;
      sessionsByToken.delete(tokenId);
      for (const handle of handles) handle.revoke();
    },
    tokenIds: () => [...sessionsByToken.keys()],
    admitPending() {
      if (pendingAuth >= MAX_PENDING_AUTH) return false;
      pendingAuth++;
      return true;
    },
    releasePending() {
      pendingAuth--;
    },
    stats: () => ({ authenticated, pendingAuth }),
    close() {
      closed = true;
      stopPings();
    },
  };
}
