/**
 * The guard against DNS rebinding for the log side when it is open (no LOGS_TOKEN). A web page on an
 * attacker's name that re-resolves that name to this server reaches it as same-origin, and its requests carry
 * the attacker's name in `Host`. So an open log side answers only to names an attacker cannot point:
 * IP literals, `localhost` (and `*.localhost`, which browsers keep on loopback), the host of PUBLIC_URL and
 * whatever ALLOWED_HOSTS lists. With LOGS_TOKEN set the token is the guard and any name is served.
 */
import { isIP } from "node:net";
import type { MiddlewareHandler } from "hono";
import { errorBody } from "../transport/errors.ts";
import type { AppEnv } from "../transport/upgrade.ts";

/** The host name of a `Host` header value, lower case, without port, brackets or a trailing dot; null if malformed. */
export function hostNameOf(host: string): string | null {
  try {
    const name = new URL(`http://${host}`).hostname.replace(/\.$/, "");
    return name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
  } catch {
    return null;
  }
}

/** Whether an open log side may answer a request sent to this `Host` value. Pure. */
export function isServedHost(host: string, allowedHosts: ReadonlySet<string>): boolean {
  const name = hostNameOf(host);
  if (name === null) return false;
  return isIP(name) !== 0 || name === "localhost" || name.endsWith(".localhost") || allowedHosts.has(name);
}

export function createHostCheck(allowedHosts: readonly string[]): MiddlewareHandler<AppEnv> {
  const allowed = new Set(allowedHosts.map((host) => host.toLowerCase()));
  return async (c, next) => {
    // A request without Host (HTTP/1.0) does not come from a browser.
    const host = c.req.header("host");
    if (host !== undefined && !isServedHost(host, allowed)) {
      const name = hostNameOf(host) ?? host;
      return c.json(
        errorBody(`Host "${name}" is not served here: set PUBLIC_URL or ALLOWED_HOSTS to allow it`, {
          field: "Host",
        }),
        403,
      );
    }
    await next();
  };
}
