/**
 * What operators use, in one router that createApp mounts first: the access record, probes, metrics and the
 * API reference.
 */
import { Hono } from "hono";
import type { AppEnv } from "../transport/upgrade.ts";
import { type AccessLog, createAccessMiddleware } from "./access.ts";
import { createMetricsRoute, type MetricsRouteDeps } from "./metrics-route.ts";
import { createOpenApiRoute } from "./openapi.ts";
import { createProbeRoutes, type ReadinessSources } from "./probes.ts";

export interface OperationsDeps {
  readiness: ReadinessSources;
  metrics: MetricsRouteDeps;
  /** Where access lines go; none: only the authentication failures are counted. */
  accessLog?: AccessLog;
  /** The version the API reference names. */
  version: string;
}

export function createOperationsRoutes(deps: OperationsDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  // Mounted first, so it sees the answer of every route registered after it (also the guards').
  routes.use(
    "*",
    createAccessMiddleware({
      authFailures: deps.metrics.authFailures,
      ...(deps.accessLog === undefined ? {} : { log: deps.accessLog }),
    }),
  );
  routes.route("/", createProbeRoutes(deps.readiness));
  routes.route("/", createMetricsRoute(deps.metrics));
  routes.route("/", createOpenApiRoute(deps.version));
  return routes;
}
