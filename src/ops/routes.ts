/**
 * What operators use, in one router that createApp mounts first: the probes (more to come beside them).
 */
import { Hono } from "hono";
import type { AppEnv } from "../http/upgrade.ts";
import { createProbeRoutes, type ReadinessSources } from "./probes.ts";

export interface OperationsDeps {
  readiness: ReadinessSources;
}

export function createOperationsRoutes(deps: OperationsDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.route("/", createProbeRoutes(deps.readiness));
  return routes;
}
