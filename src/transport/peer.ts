/**
 * What endpoint code may do with a WebSocket connection. Bun's `ServerWebSocket` satisfies it structurally,
 * so the transport passes the socket itself (no wrapper per event) while endpoints never import `bun`.
 */
export interface Peer {
  readonly remoteAddress: string;
  /** Returns bytes sent, -1 when queued under backpressure, 0 when dropped or closed. */
  send(data: string | Uint8Array, compress?: boolean): number;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  close(code?: number, reason?: string): void;
  getBufferedAmount(): number;
  /** Runs `batch` with writes held back and sent together: one syscall for many messages. */
  cork<T>(batch: () => T): T;
}

/**
 * The behaviour of one connection, created when the upgrade is accepted (after validation and
 * authentication over HTTP) and owned by the transport until the socket closes.
 */
export interface SocketSession {
  open(peer: Peer): void;
  message(peer: Peer, message: string | Uint8Array): void;
  close(peer: Peer, code: number, reason: string): void;
  drain?(peer: Peer): void;
}

/** Per-connection data the transport stores on the socket. */
export interface SocketData {
  ip: string;
  session: SocketSession;
  /** The route that upgraded it (`/logs/ws`, `/v1/socket`): open connections are counted per endpoint. */
  endpoint?: string;
}

/**
 * The one table of close codes hookstream sends. Its own codes sit in ranges by what a client should do, so a
 * client that does not know a code still knows that:
 * - 4000–4099 **final**: the same request is refused again (credentials); stop, or fix it first.
 * - 4100–4199 **resume**: reconnect and continue from the last cursor received; nothing is lost.
 * - 4200–4299 **retry later**: reconnect after a pause with the same request.
 * Standard codes keep their WebSocket meaning; 1001 and 1011 are fixed by the original protocols.
 */
export const CloseCode = {
  /** Server shutdown: reconnect later, possibly to another instance. */
  GOING_AWAY: 1001,
  /** A frame the protocol does not accept (binary on a text protocol, oversized). Final for that frame. */
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  /** An internal fault: reconnect. */
  INTERNAL_ERROR: 1011,
  /** Temporarily overloaded (too many sockets waiting to authenticate, storage unavailable): reconnect after a pause. */
  TRY_AGAIN_LATER: 1013,
  /** Relay socket: bad or missing credentials. Final: official clients stop reconnecting. */
  UNAUTHORIZED: 4001,
  /** Relay socket: the token was revoked. Final. */
  TOKEN_REVOKED: 4003,
  /**
   * Log stream and relay socket: the client drained nothing for the stall timeout while behind. Resume with
   * the last cursor. The frame queues behind the unread data: a client that reads nothing until the idle
   * timeout drops the connection never gets it and sees 1006 instead.
   */
  TOO_SLOW: 4100,
  /**
   * Log stream and relay socket: a lagging client fell behind what the journal (or the relay's store)
   * retains, its next entries are missing from the journal, or the history was reset. Resume with the last
   * cursor (it is told the gap then).
   */
  BEHIND_RETENTION: 4101,
  /** Relay socket: no `auth` within the allowed time. Reconnect (and authenticate at once). */
  AUTH_TIMEOUT: 4202,
  /** Too many failed attempts from this address with these credentials; reconnect after a minute. */
  RATE_LIMITED: 4208,
} as const;

export type CloseMeaning = "final" | "resume" | "retry" | "standard";

/** What a client should do on a close code: the ranges above, for any code in them. */
export function closeMeaning(code: number): CloseMeaning {
  if (code >= 4000 && code < 4100) return "final";
  if (code >= 4100 && code < 4200) return "resume";
  if (code >= 4200 && code < 4300) return "retry";
  return "standard";
}
