/**
 * Access to the log stream, its APIs and its page. Without LOGS_TOKEN everything is open, as in the original
 * (the server warns at start-up when that is exposed), except to web pages of other origins: a browser's
 * cross-origin upgrade of the stream is refused (WebSockets are not covered by CORS), and host-check.ts keeps
 * rebound DNS names out. With LOGS_TOKEN, a request must show the token:
 *   - `Authorization: Bearer <token>` (programs),
 *   - `?token=<token>` (WebSocket clients that cannot set headers),
 *   - or the session cookie set by the sign-in form (browsers).
 * The cookie (sessions.ts) holds no secret; signing out revokes it on the server. A WebSocket upgrade
 * authenticated by that cookie must come from the same origin, or any page the user visits could open the
 * stream with the user's cookie.
 *
 * Every way of presenting the token (header, query, sign-in form) counts its failures in the server's one
 * auth limiter, per address: the token has no public part that would tell a guesser apart from its owner, so
 * a locked address is refused even the right token until the window ends. A session cookie is not counted and
 * still works there: forging one means forging an HMAC, which a rate limit would not slow usefully, and
 * checking it tells nothing about the token.
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { type AuthLimiter, RETRY_AFTER_SECONDS } from "../transport/auth-limiter.ts";
import { errorBody } from "../transport/errors.ts";
import { type AppEnv, clientAddress } from "../transport/upgrade.ts";
import {
  createSessionCookieValue,
  createSessionRevocations,
  readSessionCookie,
  SESSION_TTL_SECONDS,
  type SessionRevocations,
  sameSecret,
} from "./sessions.ts";

export const SESSION_COOKIE = "hookstream_logs";
export type Credential = "open" | "bearer" | "query" | "cookie";

export type AccessResult =
  | { ok: true; via: Credential }
  | { ok: false; status: 401 | 403 | 429; error: string };

/** The limiter's name for LOGS_TOKEN, whichever way it is presented. */
const LOGS_TOKEN_CREDENTIAL = "logs-token";
const CROSS_ORIGIN = {
  ok: false,
  status: 403,
  error: "Cross-origin WebSocket upgrade refused",
} as const satisfies AccessResult;
const RATE_LIMITED = {
  ok: false,
  status: 429,
  error: "Too many failed attempts; try again in a minute",
} as const satisfies AccessResult;

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

/** The JSON refusal of an API or upgrade request, with the headers its status calls for. */
export function refusal(c: Context<AppEnv>, result: Extract<AccessResult, { ok: false }>): Response {
  const headers: Record<string, string> =
    result.status === 429
      ? { "Retry-After": String(RETRY_AFTER_SECONDS) }
      : result.status === 401
        ? { "WWW-Authenticate": "Bearer" }
        : {};
  return c.json(errorBody(result.error), result.status, headers);
}

export interface LogsAccess {
  required: boolean;
  check(c: Context<AppEnv>, options?: { upgrade?: boolean }): AccessResult;
  /** For APIs: 401/403/429 JSON when access is refused. */
  api: MiddlewareHandler<AppEnv>;
  /** For the page: a redirect to the sign-in form when access is refused. */
  page: MiddlewareHandler<AppEnv>;
  /**
   * A token given by hand (the sign-in form), checked in constant time and counted like any other; the
   * session cookie's value when it is right.
   */
  signIn(
    address: string,
    given: string,
  ): { ok: true; cookie: string } | { ok: false; reason: "invalid" | "rate_limited" };
  /** Ends the session this cookie belongs to, for every copy of it. */
  signOut(cookie: string | undefined): void;
  /** How long the cookie `signIn` returns lasts, in seconds. */
  sessionTtlSeconds: number;
}

export interface LogsAccessOptions {
  token: string | null;
  /** The server's one limiter for failed authentications. */
  limiter: AuthLimiter;
  now?: () => number;
  revocations?: SessionRevocations;
}

export function createLogsAccess(options: LogsAccessOptions): LogsAccess {
  const { token, limiter } = options;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const revocations = options.revocations ?? createSessionRevocations({ now });

  const attempt = (address: string, given: string, expected: string): boolean => {
    if (sameSecret(given, expected)) return true;
    limiter.recordFailure(address, LOGS_TOKEN_CREDENTIAL);
    return false;
  };

  const check = (c: Context<AppEnv>, options: { upgrade?: boolean } = {}): AccessResult => {
    if (token === null) {
      // Open to programs, but not to whatever web page the reader visits: a browser always sends Origin.
      const origin = c.req.header("origin");
      if (options.upgrade && origin !== undefined && !isSameOrigin(origin, c.req.header("host")))
        return CROSS_ORIGIN;
      return { ok: true, via: "open" };
    }
    const header = c.req.header("authorization");
    const query = c.req.query("token");
    if (header !== undefined || query !== undefined) {
      const address = clientAddress(c);
      if (!limiter.allows(address, LOGS_TOKEN_CREDENTIAL)) return RATE_LIMITED;
      if (header !== undefined) {
        const match = /^Bearer\s+(\S+)$/i.exec(header);
        return attempt(address, match?.[1] ?? "", token)
          ? { ok: true, via: "bearer" }
          : { ok: false, status: 401, error: "Invalid token" };
      }
      return attempt(address, query as string, token)
        ? { ok: true, via: "query" }
        : { ok: false, status: 401, error: "Invalid token" };
    }
    const cookie = getCookie(c, SESSION_COOKIE);
    const session = cookie === undefined ? null : readSessionCookie(cookie, token, now());
    if (session !== null && !revocations.isRevoked(session)) {
      if (options.upgrade && !isSameOrigin(c.req.header("origin"), c.req.header("host"))) return CROSS_ORIGIN;
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
    check,
    signIn(address, given) {
      if (token === null) return { ok: false, reason: "invalid" };
      if (!limiter.allows(address, LOGS_TOKEN_CREDENTIAL)) return { ok: false, reason: "rate_limited" };
      if (!attempt(address, given, token)) return { ok: false, reason: "invalid" };
      return { ok: true, cookie: createSessionCookieValue(token, now()) };
    },
    signOut(cookie) {
      if (token === null || cookie === undefined) return;
      const session = readSessionCookie(cookie, token, now());
      if (session !== null) revocations.revoke(session);
    },
    sessionTtlSeconds: SESSION_TTL_SECONDS,
    api: async (c, next) => {
      const result = check(c);
      if (!result.ok) return refusal(c, result);
      await next();
    },
    page: async (c, next) => {
      const result = check(c);
      if (!result.ok) return c.redirect(`/logs/login?next=${encodeURIComponent(returnPath(c.req.url))}`, 303);
      await next();
    },
  };
}
