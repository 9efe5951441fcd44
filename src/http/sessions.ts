/**
 * Browser sessions of the log page: the cookie and its server-side revocation.
 *
 * The cookie holds no secret: `<expiry>.<id>.<HMAC(token, expiry.id)>`. It expires by itself, every session
 * ends when the token changes, and the random id tells two sign-ins of the same second apart, so signing out
 * ends exactly one session.
 */
import { timingSafeEqual } from "node:crypto";

/** How long a browser sign-in lasts. */
export const SESSION_TTL_SECONDS = 7 * 24 * 3600;
/**
 * Signed-out sessions remembered until their cookies expire. At the limit the one expiring first is forgotten
 * and every cookie expiring no later than it is refused from then on: some sessions end early, none that was
 * signed out comes back.
 */
export const MAX_REVOKED_SESSIONS = 10_000;

const ID_BYTES = 16;

export interface Session {
  id: string;
  expiresAt: number;
}

/** Constant-time comparison of two strings. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  // Compare equal-length buffers only; the length check leaks nothing useful about a random token.
  return a.length === b.length && timingSafeEqual(a, b);
}

function sign(token: string, expiresAt: number, id: string): string {
  return new Bun.CryptoHasher("sha256", token).update(`logs-session:${expiresAt}.${id}`).digest("base64url");
}

export function createSessionCookieValue(token: string, nowSeconds: number): string {
  const expiresAt = nowSeconds + SESSION_TTL_SECONDS;
  const id = Buffer.from(crypto.getRandomValues(new Uint8Array(ID_BYTES))).toString("base64url");
  return `${expiresAt}.${id}.${sign(token, expiresAt, id)}`;
}

/** The session a cookie proves, or null when it is malformed, forged, signed with another token or expired. */
export function readSessionCookie(value: string, token: string, nowSeconds: number): Session | null {
  const [expiry, id, mac, ...rest] = value.split(".");
  if (expiry === undefined || id === undefined || mac === undefined || rest.length > 0 || id === "")
    return null;
  const expiresAt = Number(expiry);
  if (!Number.isSafeInteger(expiresAt) || expiresAt < nowSeconds) return null;
  return sameSecret(mac, sign(token, expiresAt, id)) ? { id, expiresAt } : null;
}

export interface SessionRevocations {
  revoke(session: Session): void;
  isRevoked(session: Session): boolean;
  size(): number;
}

export function createSessionRevocations(
  options: { now?: () => number; maxEntries?: number } = {},
): SessionRevocations {
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const maxEntries = options.maxEntries ?? MAX_REVOKED_SESSIONS;
  /** Session id → its cookie's expiry (seconds). */
  const revoked = new Map<string, number>();
  /** Cookies expiring at or before this are refused: raised when an entry had to be forgotten early. */
  let refusedThrough = 0;

  const dropExpired = () => {
    const current = now();
    for (const [id, expiresAt] of revoked) if (expiresAt < current) revoked.delete(id);
  };

  return {
    revoke(session) {
      if (session.expiresAt <= refusedThrough) return;
      if (revoked.size >= maxEntries) dropExpired();
      if (revoked.size >= maxEntries) {
        let first: [string, number] | null = null;
        for (const entry of revoked) if (first === null || entry[1] < first[1]) first = entry;
        if (first !== null) {
          revoked.delete(first[0]);
          refusedThrough = Math.max(refusedThrough, first[1]);
        }
      }
      revoked.set(session.id, session.expiresAt);
    },
    isRevoked: (session) => session.expiresAt <= refusedThrough || revoked.has(session.id),
    size: () => revoked.size,
  };
}
