/**
 * One `/logs/ws` connection: subscribe its socket to the canonical topic of its filters, and tell it when the
 * log directory is missing (the stream starts by itself once the directory appears).
 */
import type { LogHub } from "../hub/log-hub.ts";
import type { LogFilters } from "../hub/topics.ts";
import type { SocketSession } from "../transport/peer.ts";

export const LOG_DIRECTORY_MISSING = JSON.stringify({ error: "Log directory not found" });

export interface LogSessionDeps {
  hub: LogHub;
  directoryExists: () => boolean;
}

export function createLogSession(deps: LogSessionDeps, filters: LogFilters): SocketSession {
  let topic: string | null = null;
  return {
    open(peer) {
      topic = deps.hub.subscribe(filters);
      peer.subscribe(topic);
      if (!deps.directoryExists()) peer.send(LOG_DIRECTORY_MISSING);
    },
    // The stream is one-way; whatever a client sends is ignored (browsers may send keepalives).
    message() {},
    close() {
      if (topic !== null) deps.hub.unsubscribe(topic);
      topic = null;
    },
  };
}
