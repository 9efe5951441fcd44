/**
 * The one module that touches Bun's `ServerWebSocket`: it maps open/message/close/drain onto the session
 * each connection was upgraded with, keeps the set of open sockets for shutdown, and releases the
 * connection slot when a socket ends.
 */
import type { ServerWebSocket, WebSocketHandler } from "bun";
import type { ConnectionLimiter } from "./connections.ts";
import { CloseCode, type SocketData } from "./peer.ts";

export interface SocketTransportOptions {
  limiter: ConnectionLimiter;
  maxPayloadBytes: number;
  backpressureLimitBytes: number;
  idleTimeoutSeconds: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

export interface SocketTransport {
  websocket: WebSocketHandler<SocketData>;
  openCount(): number;
  /** Open sockets per upgrading endpoint. */
  openByEndpoint(): ReadonlyMap<string, number>;
  /** Sends a close frame with this code and reason to every open socket. */
  closeAll(code: number, reason: string): void;
}

export function createSocketTransport(options: SocketTransportOptions): SocketTransport {
  const open = new Set<ServerWebSocket<SocketData>>();
  const byEndpoint = new Map<string, number>();
  const countEndpoint = (endpoint: string, change: 1 | -1) =>
    byEndpoint.set(endpoint, (byEndpoint.get(endpoint) ?? 0) + change);

  const fail = (ws: ServerWebSocket<SocketData>, where: string, error: unknown) => {
    options.log(
      "error",
      `socket ${where} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    ws.close(CloseCode.INTERNAL_ERROR, "Internal server error");
  };

  const websocket: WebSocketHandler<SocketData> = {
    maxPayloadLength: options.maxPayloadBytes,
    backpressureLimit: options.backpressureLimitBytes,
    // Past the limit Bun closes the socket instead of silently dropping what it cannot queue.
    closeOnBackpressureLimit: true,
    idleTimeout: options.idleTimeoutSeconds,
    // Protocol pings keep idle connections alive behind proxies and detect dead peers.
    sendPings: true,
    publishToSelf: false,
    open(ws) {
      open.add(ws);
      countEndpoint(ws.data.endpoint ?? "other", 1);
      try {
        ws.data.session.open(ws);
      } catch (error) {
        fail(ws, "open", error);
      }
    },
    message(ws, message) {
      try {
        ws.data.session.message(ws, message);
      } catch (error) {
        fail(ws, "message", error);
      }
    },
    drain(ws) {
      try {
        ws.data.session.drain?.(ws);
      } catch (error) {
        fail(ws, "drain", error);
      }
    },
    close(ws, code, reason) {
      if (open.delete(ws)) countEndpoint(ws.data.endpoint ?? "other", -1);
      options.limiter.release(ws.data.ip);
      try {
        ws.data.session.close(ws, code, reason);
      } catch (error) {
        options.log("error", `socket close handler failed: ${String(error)}`);
      }
    },
  };

  return {
    websocket,
    openCount: () => open.size,
    openByEndpoint: () => byEndpoint,
    closeAll(code, reason) {
      for (const ws of open) ws.close(code, reason);
    },
  };
}
