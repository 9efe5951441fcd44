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

/** The one table of close codes hookstream sends. */
export const CloseCode = {
  /** Server shutdown: reconnect later, possibly to another instance. */
  GOING_AWAY: 1001,
  /** A frame the protocol does not accept (binary on a text protocol, oversized). Final for that frame. */
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  /** An internal fault: reconnect. */
  INTERNAL_ERROR: 1011,
  /** Temporarily overloaded (too many sockets waiting to authenticate): reconnect after a pause. */
  TRY_AGAIN_LATER: 1013,
  /** Relay socket: bad or missing credentials. Final: official clients stop reconnecting. */
  UNAUTHORIZED: 4001,
  /** Relay socket: no `auth` within the allowed time. Reconnect. */
  AUTH_TIMEOUT: 4002,
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
   * retains, or its next entries are missing from the journal. Resume with the last cursor.
   */
  BEHIND_RETENTION: 4101,
  /** Too many failed attempts from this address; reconnect after a pause. */
  RATE_LIMITED: 4008,
} as const;
