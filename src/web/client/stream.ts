/**
 * The page's connection to `/logs/ws`: opens it with a backfill (`tail=`), follows `{"control":"live"}`,
 * and after any drop reconnects by itself with the cursor of the last entry received, backing off from
 * 0.5 s to 10 s, so nothing is missed or repeated across a dropped connection. No DOM: the page passes
 * callbacks, tests can pass a fake socket.
 */
import type { LogEntry } from "../../logs/entry.ts";
import { BACKFILL_TAIL, type PageQuery, streamUrl } from "./query.ts";

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

export interface GapNotice {
  requested: string;
  resumed_from: string;
  message: string;
}

export interface StreamEvents {
  entry(entry: LogEntry): void;
  gap(notice: GapNotice): void;
  /** `{"error": "..."}` messages such as "Log directory not found"; the connection stays open. */
  serverError(message: string): void;
  state(state: ConnectionState): void;
  /** The server wants a sign-in (LOGS_TOKEN); the page goes to the login form. */
  unauthorized(): void;
}

/** Answer to a plain GET of the stream URL: what the server says before any upgrade. */
export interface ProbeAnswer {
  status: number;
  body: string;
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

export const FIRST_RETRY_MS = 500;
export const MAX_RETRY_MS = 10_000;

/** Delay before reconnect attempt `attempt` (0-based): doubling from 0.5 s to 10 s, ±20 % so a restarted server is not hit by every page at once. */
export function retryDelay(attempt: number, random: number): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.8 + 0.4 * random));
}

export type StreamMessage =
  | { kind: "entry"; entry: LogEntry }
  | { kind: "live" }
  | { kind: "gap"; notice: GapNotice }
  | { kind: "error"; message: string }
  | { kind: "unknown" };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Classifies one text frame; anything unexpected is `unknown` rather than an exception. */
export function parseStreamMessage(text: string): StreamMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: "unknown" };
  }
  if (!isRecord(value)) return { kind: "unknown" };
  if (typeof value.control === "string") {
    if (value.control === "live") return { kind: "live" };
    if (value.control === "gap")
      return {
        kind: "gap",
        notice: {
          requested: String(value.requested ?? ""),
          resumed_from: String(value.resumed_from ?? ""),
          message: String(value.message ?? "entries before resumed_from are no longer retained"),
        },
      };
    return { kind: "unknown" };
  }
  if (typeof value.error === "string" && value.level === undefined)
    return { kind: "error", message: value.error };
  if (
    typeof value.timestamp === "string" &&
    typeof value.level === "string" &&
    typeof value.message === "string"
  )
    return { kind: "entry", entry: value as unknown as LogEntry };
  return { kind: "unknown" };
}

function errorOf(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (isRecord(parsed) && typeof parsed.error === "string") return parsed.error;
  } catch {
    // Not the JSON error shape: show the text itself.
  }
  return body.slice(0, 200) || "refused";
}

async function defaultProbe(url: string): Promise<ProbeAnswer | null> {
  try {
    const response = await fetch(url.replace(/^ws/, "http"), { credentials: "same-origin" });
    return { status: response.status, body: await response.text() };
  } catch {
    return null;
  }
}

/** What a refused upgrade means, from the HTTP answer to the same URL (null: the server is unreachable). */
export type Refusal =
  | { kind: "unauthorized" }
  | { kind: "failed"; message: string }
  | { kind: "retry"; reason: string };

/** 401 asks for a sign-in and 400/403 are final (reconnecting cannot help); anything else is retried. */
export function classifyRefusal(answer: ProbeAnswer | null): Refusal {
  if (answer === null) return { kind: "retry", reason: "server unreachable" };
  if (answer.status === 401) return { kind: "unauthorized" };
  if (answer.status === 400 || answer.status === 403)
    return { kind: "failed", message: errorOf(answer.body) };
  return { kind: "retry", reason: `server answered ${answer.status}` };
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

function openSocket(ws: SocketLike, on: SocketHandlers): SocketLike {
  let opened = false;
  ws.onopen = () => {
    opened = true;
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") on.message(event.data);
  };
  ws.onclose = (event) => on.close(opened, event);
  return ws;
}

export function createLogStream(options: LogStreamOptions): LogStream {
  const deps = resolveDeps(options);
  const { events } = options;

  let query = options.query;
  let cursor: string | null = null;
  let socket: SocketLike | null = null;
  /** Bumped on every deliberate change, so events of a socket we let go of are ignored. */
  let generation = 0;
  let attempt = 0;
  let retryTimer: number | null = null;
  let wentLiveOnce = false;
  let state: ConnectionState = { kind: "connecting" };

  const setState = (next: ConnectionState) => {
    state = next;
    events.state(next);
  };

  const dropSocket = () => {
    generation++;
    if (retryTimer !== null) deps.clearTimer(retryTimer);
    retryTimer = null;
    if (socket !== null) detach(socket);
    socket = null;
  };

  const scheduleRetry = (reason: string) => {
    const inMs = retryDelay(attempt, deps.random());
    setState({ kind: "reconnecting", attempt: attempt + 1, inMs, reason });
    attempt++;
    const mine = generation;
    retryTimer = deps.setTimer(() => {
      retryTimer = null;
      if (mine === generation) connect();
    }, inMs);
  };

  const setCursor = (next: string) => {
    cursor = next;
  };
  const goLive = () => {
    attempt = 0;
    wentLiveOnce = true;
    setState({ kind: "live" });
  };

  /** The upgrade failed: a browser does not say why, the HTTP answer to the same URL does. */
  const explainRefusal = async (url: string, mine: number) => {
    const refusal = classifyRefusal(await deps.probe(url));
    if (mine !== generation) return;
    if (refusal.kind === "retry") return scheduleRetry(refusal.reason);
    if (refusal.kind === "unauthorized") events.unauthorized();
    setState({ kind: "failed", message: refusal.kind === "failed" ? refusal.message : "sign-in required" });
  };

  const connect = () => {
    const mine = ++generation;
    const url = streamUrl(options.origin, query, cursor === null ? { tail: BACKFILL_TAIL } : { cursor });
    setState(wentLiveOnce ? { kind: "catching_up" } : { kind: "connecting" });
    socket = openSocket(deps.createSocket(url), {
      message(text) {
        if (mine === generation)
          dispatchMessage(parseStreamMessage(text), events, { cursor: setCursor, live: goLive });
      },
      close(opened, event) {
        if (mine !== generation) return;
        socket = null;
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
      attempt = 0;
      wentLiveOnce = false;
      connect();
    },
    suspend() {
      dropSocket();
      setState({ kind: "suspended" });
    },
    resume() {
      dropSocket();
      attempt = 0;
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
