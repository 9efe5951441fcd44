/**
 * The access record of the endpoints that hand out data or change state: WebSocket upgrades (`/logs/ws`,
 * `/v1/socket`), the admin API (`/v1/buckets`, `/v1/tokens`), the log APIs (`/logs/api/*`) and the sign-in
 * form. A middleware mounted before their routes sees each answer: it counts authentication failures per
 * endpoint (401, 403, 429) for /metrics and writes one access line per request.
 *
 * An access line names the client address, the endpoint, what was asked (filters, a bucket in the path) and
 * how the client identified itself: a relay token by its public key, LOGS_TOKEN by how it was shown (bearer,
 * query, cookie). Never a secret: the `token` query parameter is left out and secrets are never read here.
 */
import type { Context, MiddlewareHandler } from "hono";
import { SESSION_COOKIE } from "../http/logs-access.ts";
import { looksLikeTokenKey, parseAuthorization } from "../relay/tokens.ts";
import type { AppEnv } from "../transport/upgrade.ts";
import { clientAddress } from "../transport/upgrade.ts";
import type { AuthFailureCounts } from "./metrics.ts";

/** Fields of an access line; `undefined` ones are left out. */
export type AccessFields = Record<string, unknown>;

export type AccessLog = (level: "info" | "warn", message: string, fields: AccessFields) => void;

/** Statuses that mean the client could not show valid credentials (or was rate-limited for failing to). */
const AUTH_FAILURE_STATUSES = new Set([401, 403, 429]);

/** Most query parameters repeated in one access line, and most characters of each value. */
const MAX_LOGGED_PARAMS = 16;
const MAX_LOGGED_VALUE_CHARS = 200;

/** The audited endpoint a request path belongs to, or null when its requests are not recorded. */
export function auditedEndpoint(method: string, path: string): string | null {
  if (path === "/logs/ws" || path === "/v1/socket") return path;
  if (/^\/v1\/(buckets|tokens)(\/|$)/.test(path)) return "/v1/admin";
  if (path.startsWith("/logs/api/")) return "/logs/api";
  if (path === "/logs/login" && method === "POST") return "/logs/login";
  return null;
}

/** How the request identified itself, without any secret. */
export function identityOf(
  endpoint: string,
  headers: { authorization?: string; cookie?: string },
  query: URLSearchParams,
): AccessFields {
  if (endpoint === "/v1/admin") {
    const credentials = parseAuthorization(headers.authorization);
    if (credentials === null)
      return { credential: headers.authorization === undefined ? "none" : "malformed" };
    return { credential: "token", key: looksLikeTokenKey(credentials.key) ? credentials.key : "malformed" };
  }
  // The relay socket authenticates in-band, after the upgrade: the relay logs its key then.
  if (endpoint === "/v1/socket") return {};
  if (headers.authorization !== undefined) return { credential: "bearer" };
  if (query.has("token")) return { credential: "query" };
  if (headers.cookie?.includes(`${SESSION_COOKIE}=`)) return { credential: "cookie" };
  return { credential: "none" };
}

/** The query parameters as asked (filters, start position, bucket), minus the token. */
export function filtersOf(query: URLSearchParams): Record<string, string> | undefined {
  const filters: Record<string, string> = {};
  let count = 0;
  for (const [name, value] of query) {
    if (name === "token" || count++ >= MAX_LOGGED_PARAMS) continue;
    filters[name.slice(0, MAX_LOGGED_VALUE_CHARS)] = value.slice(0, MAX_LOGGED_VALUE_CHARS);
  }
  return count === 0 ? undefined : filters;
}

function recordOf(c: Context<AppEnv>, endpoint: string): AccessFields {
  const url = new URL(c.req.url);
  return {
    address: clientAddress(c),
    method: c.req.method,
    endpoint,
    path: url.pathname,
    filters: filtersOf(url.searchParams),
    ...identityOf(
      endpoint,
      { authorization: c.req.header("authorization"), cookie: c.req.header("cookie") },
      url.searchParams,
    ),
  };
}

export function createAccessMiddleware(deps: {
  authFailures: AuthFailureCounts;
  log?: AccessLog;
}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const endpoint = auditedEndpoint(c.req.method, c.req.path);
    if (endpoint === null) return next();
    // Read before the route runs: once a socket was handed over, Bun no longer knows the request's address.
    const record = deps.log === undefined ? null : recordOf(c, endpoint);
    await next();
    const status = c.res.status;
    if (AUTH_FAILURE_STATUSES.has(status))
      deps.authFailures.set(endpoint, (deps.authFailures.get(endpoint) ?? 0) + 1);
    if (deps.log === undefined || record === null) return;
    const upgrade = endpoint === "/logs/ws" || endpoint === "/v1/socket";
    // A handed-over upgrade answers with an empty 200 that Bun never sends (it answers 101 itself).
    const accepted = upgrade ? status === 200 : status < 400;
    const what = upgrade ? "websocket upgrade" : "api call";
    deps.log(accepted ? "info" : "warn", `${what} ${accepted ? "accepted" : "refused"}`, {
      ...record,
      status: upgrade && accepted ? 101 : status,
    });
  };
}
