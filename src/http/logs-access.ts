/**
 * Access to the log stream, its APIs and its page. Without LOGS_TOKEN everything is open, as in the original
 * (the server warns at start-up when that is exposed). With it, a request must show the token:
 *   - `Authorization: Bearer <token>` (programs),
 *   - `?token=<token>` (WebSocket clients that cannot set headers),
 *   - or the session cookie set by the sign-in form (browsers).
 * The cookie holds no secret: it is `<expiry>.<HMAC(token, expiry)>`, so it expires by itself and every
 * session ends when the token changes. A WebSocket upgrade authenticated by that cookie must come from the
 * same origin, or any page the user visits could open the stream with the user's cookie.
 */
import { timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { errorBody } from "./errors.ts";
import type { AppEnv } from "./upgrade.ts";

export const SESSION_COOKIE = "hookstream_logs";
/** How long a browser sign-in lasts. */
export const SESSION_TTL_SECONDS = 7 * 24 * 3600;

export type Credential = "open" | "bearer" | "query" | "cookie";

export type AccessResult = { ok: true; via: Credential } | { ok: false; status: 401 | 403; error: string };

export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  // Compare equal-length buffers only; the length check leaks nothing useful about a random token.
  return a.length === b.length && timingSafeEqual(a, b);
}

function sign(token: string, expiresAt: number): string {
  return new Bun.CryptoHasher("sha256", token).update(`logs-session:${expiresAt}`).digest("base64url");
}

export function createSessionCookieValue(token: string, nowSeconds: number): string {
  const expiresAt = nowSeconds + SESSION_TTL_SECONDS;
  return `${expiresAt}.${sign(token, expiresAt)}`;
}

export function isValidSessionCookie(value: string, token: string, nowSeconds: number): boolean {
  const dot = value.indexOf(".");
  if (dot === -1) return false;
  const expiresAt = Number(value.slice(0, dot));
  if (!Number.isSafeInteger(expiresAt) || expiresAt < nowSeconds) return false;
  return sameSecret(value.slice(dot + 1), sign(token, expiresAt));
}

/** Whether the Origin of a browser request names the host it was sent to. */
export function isSameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined || host === undefined) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Where sign-in sends the browser back: the page with its filters, never with a (wrong) token in it. */
export function returnPath(url: string): string {
  const parsed = new URL(url);
  parsed.searchParams.delete("token");
  return `${parsed.pathname}${parsed.search}`;
}

export interface LogsAccess {
  required: boolean;
  check(c: Context<AppEnv>, options?: { upgrade?: boolean }): AccessResult;
  /** For APIs: 401/403 JSON when access is refused. */
  api: MiddlewareHandler<AppEnv>;
  /** For the page: a redirect to the sign-in form when access is refused. */
  page: MiddlewareHandler<AppEnv>;
  /** Constant-time check of a token given by hand (the sign-in form). */
  matches(given: string): boolean;
  token: string | null;
}

export function createLogsAccess(
  token: string | null,
  now: () => number = () => Math.floor(Date.now() / 1000),
): LogsAccess {
  const check = (c: Context<AppEnv>, options: { upgrade?: boolean } = {}): AccessResult => {
    if (token === null) return { ok: true, via: "open" };
    const header = c.req.header("authorization");
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      return match !== null && sameSecret(match[1] as string, token)
        ? { ok: true, via: "bearer" }
        : { ok: false, status: 401, error: "Invalid token" };
    }
    const query = c.req.query("token");
    if (query !== undefined) {
      return sameSecret(query, token)
        ? { ok: true, via: "query" }
        : { ok: false, status: 401, error: "Invalid token" };
    }
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie !== undefined && isValidSessionCookie(cookie, token, now())) {
      if (options.upgrade && !isSameOrigin(c.req.header("origin"), c.req.header("host"))) {
        return { ok: false, status: 403, error: "Cross-origin WebSocket upgrade refused" };
      }
      return { ok: true, via: "cookie" };
    }
    return {
      ok: false,
      status: 401,
      error: "Authentication required: Bearer token, token parameter or sign-in",
    };
  };
  return {
    required: token !== null,
    token,
    check,
    matches: (given) => token !== null && sameSecret(given, token),
    api: async (c, next) => {
      const result = check(c);
      if (!result.ok) return c.json(errorBody(result.error), result.status, { "WWW-Authenticate": "Bearer" });
      await next();
    },
    page: async (c, next) => {
      const result = check(c);
      if (!result.ok) return c.redirect(`/logs/login?next=${encodeURIComponent(returnPath(c.req.url))}`, 303);
      await next();
    },
  };
}
