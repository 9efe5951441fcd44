/**
 * One connection to `/v1/socket` as a forwarding client: authenticates, subscribes (after a cursor when it
 * has one), answers pings, and notices a server that went silent. Reconnecting is the caller's choice; this
 * only says whether the close was final.
 */
import { closeMeaning } from "../transport/peer.ts";
import { ExitCode, type ExitCodeValue } from "./exit-codes.ts";
import { parseServerFrame, socketUrl, type WebhookFrame } from "./relay-frames.ts";

/**
 * The server pings every 30 s (RELAY_PING_INTERVAL_MS); official clients give up after 53 s of silence. A
 * connection that brought nothing for this long is dead even if TCP has not noticed: reconnect.
 */
export const SILENCE_LIMIT_MS = 75_000;

export interface RelayConnectionOptions {
  server: string;
  key: string;
  secret: string;
  buckets: string[] | null;
  cursor: string | null;
  silenceLimitMs?: number;
}

export interface RelayHandlers {
  onSubscribed(message: string): void;
  onWebhook(webhook: WebhookFrame): void;
  /** Every other status (gap, live, error after subscribing) and frames that could not be read. */
  onNotice(text: string): void;
}

export interface RelayClose {
  code: number;
  reason: string;
  /** Set when reconnecting cannot help: the exit code to end with. */
  final: ExitCodeValue | null;
}

export interface RelayConnection {
  closed: Promise<RelayClose>;
  close(reason: string): void;
  /** Sends a frame while the connection is open; false when it is not. */
  send(text: string): boolean;
}

/** Close codes after which the server will refuse again: bad or revoked credentials. */

export function connectRelay(options: RelayConnectionOptions, handlers: RelayHandlers): RelayConnection {
  const socket = new WebSocket(socketUrl(options.server, "/v1/socket").href);
  let final: ExitCodeValue | null = null;
  let subscribed = false;
  let resolveClosed: (close: RelayClose) => void = () => {};
  const closed = new Promise<RelayClose>((resolve) => {
    resolveClosed = resolve;
  });
  const silenceLimit = options.silenceLimitMs ?? SILENCE_LIMIT_MS;
  let watchdog = setTimeout(() => socket.close(1000, "server silent"), silenceLimit);
  const heard = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => socket.close(1000, "server silent"), silenceLimit);
  };

  socket.addEventListener("open", () => {
    heard();
    socket.send(JSON.stringify({ action: "auth", key: options.key, secret: options.secret }));
    socket.send(
      JSON.stringify({
        action: "subscribe",
        buckets: options.buckets,
        ...(options.cursor === null ? {} : { cursor: options.cursor }),
      }),
    );
  });
  socket.addEventListener("message", (event) => {
    heard();
    const text =
      typeof event.data === "string" ? event.data : Buffer.from(event.data as ArrayBuffer).toString();
    const frame = parseServerFrame(text);
    if (frame.kind === "webhook") return handlers.onWebhook(frame.webhook);
    if (frame.kind === "invalid")
      return handlers.onNotice(`unreadable message from the server: ${frame.reason}`);
    switch (frame.status) {
      case "ping":
        socket.send(JSON.stringify({ action: "pong" }));
        return;
      case "authenticated":
        return;
      case "subscribed":
        subscribed = true;
        return handlers.onSubscribed(frame.message);
      case "unauthorized":
        final = ExitCode.UNAUTHORIZED;
        return handlers.onNotice(`unauthorized: ${frame.message}`);
      case "error":
        handlers.onNotice(`server: ${frame.message}`);
        // A refused subscribe would be refused again: stop rather than reconnect forever.
        if (!subscribed) {
          final = ExitCode.REFUSED;
          socket.close(1000, "subscription refused");
        }
        return;
      case "gap":
        return handlers.onNotice(
          `gap: ${frame.message} (asked for ${String(frame.fields.requested)}, continuing at ${String(frame.fields.resumed_from)})`,
        );
      default:
        return handlers.onNotice(`${frame.status}: ${frame.message}`);
    }
  });
  socket.addEventListener("close", (event) => {
    clearTimeout(watchdog);
    if (final === null && closeMeaning(event.code) === "final") final = ExitCode.UNAUTHORIZED;
    resolveClosed({ code: event.code, reason: event.reason, final });
  });
  return {
    closed,
    close(reason) {
      socket.close(1000, reason);
    },
    send(text) {
      if (socket.readyState !== WebSocket.OPEN) return false;
      socket.send(text);
      return true;
    },
  };
}
