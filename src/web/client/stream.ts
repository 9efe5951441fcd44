/**
 * The page's connection to `/logs/ws`: opens it with a backfill (`tail=`), follows `{"control":"live"}`,
 * and after any drop reconnects by itself with the cursor of the last entry received, backing off from
 * 0.5 s to 10 s, so nothing is missed or repeated across a dropped connection. No DOM: the page passes
 * callbacks, tests can pass a fake socket.
 */
import type { LogEntry } from "../../logs/entry.ts";
import { BACKFILL_TAIL, type PageQuery, streamUrl } from "./query.ts";
import {
  classifyRefusal,
  type GapNotice,
  type ProbeAnswer,
  parseStreamMessage,
  retryDelay,
  type StreamMessage,
} from "./stream-messages.ts";

export type ConnectionState =
  | { kind: "connecting" }
  /** Reconnected, receiving what was written while away. */
  | { kind: "catching_up" }
  | { kind: "live" }
  | { kind: "reconnecting"; attempt: number; inMs: number; reason: string }
  /** Closed on purpose while paused with a full buffer; `resume` continues from the cursor. */
  | { kind: "suspended" }
  /** Refused over HTTP (bad filter value, forbidden): reconnecting cannot help. */
  | { kind: "failed"; message: string };

export interface StreamEvents {
  entry(entry: LogEntry): void;
  gap(notice: GapNotice): void;
  /** `{"error": "..."}` messages such as "Log directory not found"; the connection stays open. */
  serverError(message: string): void;
  state(state: ConnectionState): void;
  /** The server wants a sign-in (LOGS_TOKEN); the page goes to the login form. */
  unauthorized(): void;
}

export interface SocketLike {
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  close(code?: number, reason?: string): void;
}

export interface LogStreamOptions {
  origin: { protocol: string; host: string };
  query: PageQuery;
  events: StreamEvents;
  createSocket?: (url: string) => SocketLike;
  /** A plain GET of the stream URL, to learn why an upgrade failed; null when the server is unreachable. */
  probe?: (url: string) => Promise<ProbeAnswer | null>;
  random?: () => number;
  setTimer?: (run: () => void, ms: number) => number;
  clearTimer?: (id: number) => void;
}

export interface LogStream {
  start(): void;
  /** New filters: forget the cursor and start over with a backfill. */
  reconfigure(query: PageQuery): void;
  suspend(): void;
  /** Reconnects at once with the cursor (after `suspend`, or to skip a backoff wait). */
  resume(): void;
  stop(): void;
  readonly cursor: string | null;
  readonly state: ConnectionState;
}

async function defaultProbe(url: string): Promise<ProbeAnswer | null> {
  try {
    const response = await fetch(url.replace(/^ws/, "http"), { credentials: "same-origin" });
    return { status: response.status, body: await response.text() };
  } catch {
    return null;
  }
}

interface StreamDeps {
  createSocket: (url: string) => SocketLike;
  probe: (url: string) => Promise<ProbeAnswer | null>;
  random: () => number;
  setTimer: (run: () => void, ms: number) => number;
  clearTimer: (id: number) => void;
}

function resolveDeps(options: LogStreamOptions): StreamDeps {
  return {
    createSocket: options.createSocket ?? ((url: string) => new WebSocket(url)),
    probe: options.probe ?? defaultProbe,
    random: options.random ?? Math.random,
    setTimer: options.setTimer ?? ((run, ms) => window.setTimeout(run, ms)),
    clearTimer: options.clearTimer ?? ((id) => window.clearTimeout(id)),
  };
}

/** What the stream itself does with a message: move the cursor on an entry, reset the backoff on live. */
interface MessageHooks {
  cursor(cursor: string): void;
  live(): void;
}

function dispatchMessage(message: StreamMessage, events: StreamEvents, hooks: MessageHooks): void {
  switch (message.kind) {
    case "entry":
      if (typeof message.entry.cursor === "string") hooks.cursor(message.entry.cursor);
      events.entry(message.entry);
      break;
    case "live":
      hooks.live();
      break;
    case "gap":
      events.gap(message.notice);
      break;
    case "error":
      events.serverError(message.message);
      break;
    case "unknown":
      break;
  }
}

function detach(socket: SocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.close(1000, "client closing");
}

interface SocketHandlers {
  message(text: string): void;
  /** `opened` tells a dropped connection from an upgrade that never succeeded. */
  close(opened: boolean, event: CloseEvent): void;
}

/**
 * The one socket the stream listens to. Each connection attempt is a turn; letting go of the socket ends
 * the turn, and the events of a socket from an earlier turn (and its timers) are ignored.
 */
function createSocketSlot() {
  let socket: SocketLike | null = null;
  let turn = 0;
  return {
    begin: () => ++turn,
    isCurrent: (mine: number) => mine === turn,
    get turn() {
      return turn;
    },
    /** Listens to `ws` for turn `mine`; `close` tells a dropped connection from a failed upgrade. */
    attach(mine: number, ws: SocketLike, on: SocketHandlers): void {
      let opened = false;
      ws.onopen = () => {
        opened = true;
      };
      ws.onmessage = (event) => {
        if (typeof event.data === "string" && mine === turn) on.message(event.data);
      };
      ws.onclose = (event) => {
        if (mine !== turn) return;
        socket = null;
        on.close(opened, event);
      };
      socket = ws;
    },
    release(): void {
      turn++;
      if (socket !== null) detach(socket);
      socket = null;
    },
  };
}

/** The backoff between reconnects: attempts counted since the stream was last live, one timer at a time. */
function createRetrySchedule(deps: StreamDeps) {
  let attempt = 0;
  let timer: number | null = null;
  return {
    /** The next attempt's number (from 1) and its delay; counts it. */
    plan(): { attempt: number; inMs: number } {
      const inMs = retryDelay(attempt, deps.random());
      attempt++;
      return { attempt, inMs };
    },
    arm(inMs: number, run: () => void): void {
      timer = deps.setTimer(() => {
        timer = null;
        run();
      }, inMs);
    },
    cancel(): void {
      if (timer !== null) deps.clearTimer(timer);
      timer = null;
    },
    reset(): void {
      attempt = 0;
    },
  };
}

export function createLogStream(options: LogStreamOptions): LogStream {
  const deps = resolveDeps(options);
  const { events } = options;
  const retries = createRetrySchedule(deps);

  const slot = createSocketSlot();
  let query = options.query;
  let cursor: string | null = null;
  let wentLiveOnce = false;
  let state: ConnectionState = { kind: "connecting" };

  const setState = (next: ConnectionState) => {
    state = next;
    events.state(next);
  };

  const dropSocket = () => {
    slot.release();
    retries.cancel();
  };

  const scheduleRetry = (reason: string) => {
    const { attempt, inMs } = retries.plan();
    setState({ kind: "reconnecting", attempt, inMs, reason });
    const mine = slot.turn;
    retries.arm(inMs, () => {
      if (slot.isCurrent(mine)) connect();
    });
  };

  const hooks: MessageHooks = {
    cursor(next) {
      cursor = next;
    },
    live() {
      retries.reset();
      wentLiveOnce = true;
      setState({ kind: "live" });
    },
  };

  /** The upgrade failed: a browser does not say why, the HTTP answer to the same URL does. */
  const explainRefusal = async (url: string, mine: number) => {
    const refusal = classifyRefusal(await deps.probe(url));
    if (!slot.isCurrent(mine)) return;
    if (refusal.kind === "retry") return scheduleRetry(refusal.reason);
    if (refusal.kind === "unauthorized") events.unauthorized();
    setState({ kind: "failed", message: refusal.kind === "failed" ? refusal.message : "sign-in required" });
  };

  const connect = () => {
    const mine = slot.begin();
    const url = streamUrl(options.origin, query, cursor === null ? { tail: BACKFILL_TAIL } : { cursor });
    setState(wentLiveOnce ? { kind: "catching_up" } : { kind: "connecting" });
    slot.attach(mine, deps.createSocket(url), {
      message: (text) => dispatchMessage(parseStreamMessage(text), events, hooks),
      close(opened, event) {
        if (opened) scheduleRetry(event.reason === "" ? `closed (${event.code})` : event.reason);
        else void explainRefusal(url, mine);
      },
    });
  };

  return {
    start: connect,
    reconfigure(next) {
      dropSocket();
      query = next;
      cursor = null;
      retries.reset();
      wentLiveOnce = false;
      connect();
    },
    suspend() {
      dropSocket();
      setState({ kind: "suspended" });
    },
    resume() {
      dropSocket();
      retries.reset();
      connect();
    },
    stop: dropSocket,
    get cursor() {
      return cursor;
    },
    get state() {
      return state;
    },
  };
}
