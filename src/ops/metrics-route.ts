/**
 * `GET /metrics`, protected like the rest: with METRICS_TOKEN a scraper sends `Authorization: Bearer <token>`
 * (compared in constant time, failures rate-limited per address); without it only loopback clients are
 * answered (a scraper on the same host, or a proxy that adds its own protection).
 */
import { Hono } from "hono";
import { isLoopback } from "../http/deliveries.ts";
import { sameSecret } from "../http/sessions.ts";
import type { AuthLimiter } from "../transport/auth-limiter.ts";
import { errorBody } from "../transport/errors.ts";
import { type AppEnv, clientAddress } from "../transport/upgrade.ts";
import type { AuthFailureCounts, Metrics } from "./metrics.ts";

export const METRICS_PATH = "/metrics";
/** The limiter's name for METRICS_TOKEN: like LOGS_TOKEN it has no public part, so failures count per address. */
const METRICS_CREDENTIAL = "metrics-token";

export interface MetricsRouteDeps {
  metrics: Metrics;
  /** METRICS_TOKEN; null: loopback clients only. */
  token: string | null;
  /** The one failed-authentication limiter of the server. */
  limiter: AuthLimiter;
  authFailures: AuthFailureCounts;
}

export function createMetricsRoute(deps: MetricsRouteDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const { limiter } = deps;
  const fail = (address: string) => {
    limiter.recordFailure(address, METRICS_CREDENTIAL);
    deps.authFailures.set(METRICS_PATH, (deps.authFailures.get(METRICS_PATH) ?? 0) + 1);
  };

  routes.get(METRICS_PATH, async (c) => {
    const address = clientAddress(c);
    const { token } = deps;
    if (token === null) {
      if (!isLoopback(address))
        return c.json(
          errorBody("Metrics answer loopback clients only; set METRICS_TOKEN to scrape remotely"),
          403,
        );
    } else {
      if (!limiter.allows(address, METRICS_CREDENTIAL))
        return c.json(errorBody("too many failed attempts"), 429, { "Retry-After": "60" });
      const given = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
      if (given === undefined || !sameSecret(given, token)) {
        fail(address);
        return c.json(errorBody("Authorization required: Bearer <METRICS_TOKEN>"), 401, {
          "WWW-Authenticate": 'Bearer realm="metrics"',
        });
      }
    }
    return c.body(await deps.metrics.render(), 200, { "Content-Type": deps.metrics.contentType });
  });
  return routes;
}
