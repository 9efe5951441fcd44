/**
 * `POST /logs/api/deliveries/:bucket/:id/replay`: the Webhooks tab's Replay button (replay.ts does the work;
 * the admin API and `hookstream replay` do the same with an admin token). It is guarded like the deliveries
 * it sits beside — LOGS_TOKEN (checked by the `/logs/api/*` middleware), and loopback clients only without
 * it — and, being the page's one request that changes something, refuses requests from another site: a
 * browser sends `Origin` with every POST, so a page elsewhere cannot make a visitor's browser replay webhooks
 * (the open loopback mode has no cookie to protect it).
 */
import { Hono } from "hono";
import type { Relay } from "../relay/relay.ts";
import { replayDelivery } from "../relay/replay.ts";
import { errorBody } from "../transport/errors.ts";
import { type AppEnv, clientAddress } from "../transport/upgrade.ts";
import { isLoopback } from "./deliveries.ts";
import type { LogsAccess } from "./logs-access.ts";

/** True unless a browser says the request comes from another origin than the one it is sent to. */
export function sameOrigin(request: Request): boolean {
  const origin = request.headers.get("origin");
  if (origin === null) return request.headers.get("sec-fetch-site") !== "cross-site";
  try {
    return new URL(origin).host === (request.headers.get("host") ?? new URL(request.url).host);
  } catch {
    return false;
  }
}

export function createPageReplayRoutes(deps: { relay: Relay; access: LogsAccess }): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.post("/logs/api/deliveries/:bucket/:id/replay", async (c) => {
    if (!deps.access.required && !isLoopback(clientAddress(c)))
      return c.json(
        errorBody("Webhook deliveries are shown to other hosts only when LOGS_TOKEN is set"),
        403,
      );
    if (!sameOrigin(c.req.raw)) return c.json(errorBody("Cross-site request refused"), 403);
    const outcome = await replayDelivery(
      deps.relay,
      c.req.param("bucket"),
      c.req.param("id"),
      clientAddress(c),
    );
    if (!outcome.ok)
      return c.json(
        errorBody(outcome.message, outcome.field === undefined ? {} : { field: outcome.field }),
        outcome.status,
      );
    return c.json(outcome.value, 201);
  });
  return routes;
}
