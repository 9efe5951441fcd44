/**
 * The shared tail of every WebSocket route: after the route validated and authenticated the request over
 * HTTP, check it is an upgrade, take a connection slot, and hand the session to the transport.
 */
import type { Context } from "hono";
import type { ConnectionLimiter } from "./connections.ts";
import { errorBody } from "./errors.ts";
import type { SocketData, SocketSession } from "./peer.ts";

/** What Bun passes as the second argument of `fetch` (Hono's `c.env`): the part of `Server` we use. */
export interface Upgrader {
  upgrade(request: Request, options: { data: SocketData }): boolean;
  requestIP(request: Request): { address: string } | null;
  /** Sets how long this request's connection may be idle (see request-time.ts). */
  timeout(request: Request, seconds: number): void;
}

export type AppEnv = { Bindings: Upgrader };

export function isUpgradeRequest(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

export function clientAddress(c: Context<AppEnv>): string {
  return c.env?.requestIP?.(c.req.raw)?.address ?? "unknown";
}

export function upgradeToSession(
  c: Context<AppEnv>,
  limiter: ConnectionLimiter,
  createSession: () => SocketSession,
): Response {
  if (!isUpgradeRequest(c.req.raw)) {
    return c.json(errorBody("This endpoint speaks WebSocket only; send an Upgrade: websocket request"), 426, {
      Upgrade: "websocket",
    });
  }
  const ip = clientAddress(c);
  const admission = limiter.admit(ip);
  if (admission !== "ok") {
    const message =
      admission === "server_full" ? "Too many connections" : "Too many connections from this address";
    return c.json(errorBody(message), 503, { "Retry-After": "5" });
  }
  const upgraded = c.env.upgrade(c.req.raw, { data: { ip, session: createSession(), endpoint: c.req.path } });
  if (!upgraded) {
    limiter.release(ip);
    return c.json(errorBody("WebSocket upgrade failed"), 400);
  }
  // Bun answers the handshake itself; this response is never sent.
  return new Response(null);
}
