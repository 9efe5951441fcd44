/**
 * The `/v1/socket` protocol as a pure state machine: `step(state, event)` returns the next state and the
 * actions the session must carry out. Lookups (credentials, buckets) are actions whose results come back as
 * events, so every rule here is testable without a socket or a store.
 *
 * While a lookup is in flight the connection is "busy": frames that arrive meanwhile wait in `queued` (at most
 * MAX_QUEUED_FRAMES) and are handled in order once the result is in, so a client that pipelines
 * `auth` and `subscribe` is served as if it had waited.
 *
 * Frames carry the time they arrived, so the subscribe rate limit is a rule here too.
 */
import { CloseCode } from "../transport/peer.ts";
import { type Answer, parseAnswerFrame } from "./answer-frame.ts";
import { looksLikeCursor } from "./cursor.ts";
import { AUTHENTICATED, statusMessage } from "./message.ts";

/**
 * Frames held while a lookup is in flight; one more closes the socket (1008). Frames read while nothing is in
 * flight are answered at once and never count: the bound is on what waits, so it depends on lookup time.
 */
export const MAX_QUEUED_FRAMES = 16;
/** Bucket names or ids in one `subscribe`. */
export const MAX_SUBSCRIBE_BUCKETS = 1000;
/**
 * Subscribes accepted per connection within any SUBSCRIBE_WINDOW_MS. Each one costs bucket lookups and may
 * start a replay from the store; past it a subscribe gets an error status and the current subscription stays.
 */
export const MAX_SUBSCRIBES_PER_WINDOW = 10;
export const SUBSCRIBE_WINDOW_MS = 1000;

/** What an authenticated token may read: bucket ids, or null for every bucket, present and future. */
export interface Grant {
  tokenId: number;
  bucketIds: readonly string[] | null;
}

export interface BucketRef {
  id: string;
  name: string;
}

export const ALL_BUCKETS_TOPIC = "relay/*";
export const bucketTopic = (bucketId: string) => `relay/${bucketId}`;

export interface QueuedFrame {
  text: string;
  at: number;
}

export type ProtocolState =
  | { phase: "awaiting_auth" }
  | { phase: "authenticating"; queued: readonly QueuedFrame[] }
  | {
      phase: "ready";
      grant: Grant;
      /** A subscribe whose bucket lookup is in flight, with the cursor it asked to resume after. */
      subscribing: { cursor: string | null } | null;
      queued: readonly QueuedFrame[];
      /** When the latest subscribes were accepted (ms), oldest first: at most MAX_SUBSCRIBES_PER_WINDOW. */
      recentSubscribes: readonly number[];
    }
  | { phase: "closed" };

export type AuthResult = { ok: true; grant: Grant } | { ok: false; reason: "invalid" | "rate_limited" };

export type ProtocolEvent =
  /** A text frame, and when it arrived (ms). */
  | { type: "frame"; text: string; at: number }
  | { type: "auth_result"; result: AuthResult }
  /**
   * The buckets a subscribe asked for (`requested` null means all) and those the store found, in request
   * order; a ref that matches none was not found.
   */
  | {
      type: "buckets";
      requested: readonly string[] | null;
      found: readonly BucketRef[];
    }
  | { type: "auth_timeout" }
  | { type: "revoked" };

export type ProtocolAction =
  | { type: "send"; data: string }
  | { type: "close"; code: number; reason: string }
  | { type: "authenticate"; key: string; secret: string }
  /** Cancel the auth timer, watch the token for revocation, start keepalive pings. */
  | { type: "authenticated"; grant: Grant }
  | { type: "lookup_buckets"; refs: readonly string[] | null }
  /**
   * Replace the socket's subscription with exactly this one: these live topics, fed from the store after
   * `cursor` first when one is given. `bucketIds` null: every bucket (the all-buckets topic).
   */
  | {
      type: "subscribe";
      topics: readonly string[];
      bucketIds: readonly string[] | null;
      cursor: string | null;
    }
  /** Hand an agent's answer to the sender waiting for it, if the grant may read its bucket. */
  | { type: "answer"; grant: Grant; id: string; answer: Answer };

export interface Step {
  state: ProtocolState;
  actions: ProtocolAction[];
}

export const INITIAL_STATE: ProtocolState = { phase: "awaiting_auth" };
const CLOSED: ProtocolState = { phase: "closed" };

const send = (data: string): ProtocolAction => ({ type: "send", data });
const error = (message: string): ProtocolAction => send(statusMessage("error", message));
const close = (code: number, reason: string): ProtocolAction => ({ type: "close", code, reason });

type Frame = { ok: true; action: string; body: Record<string, unknown> } | { ok: false; message: string };

function parseFrame(text: string): Frame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    if (!(cause instanceof SyntaxError)) throw cause;
    return { ok: false, message: "invalid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { ok: false, message: "expected a JSON object with an action" };
  const body = value as Record<string, unknown>;
  if (typeof body.action !== "string") return { ok: false, message: 'missing "action"' };
  return { ok: true, action: body.action, body };
}

function unauthorized(message: string, reason: string): Step {
  return {
    state: CLOSED,
    actions: [send(statusMessage("unauthorized", message)), close(CloseCode.UNAUTHORIZED, reason)],
  };
}

function onFrameBeforeAuth(text: string): Step {
  const frame = parseFrame(text);
  if (!frame.ok || frame.action !== "auth")
    return unauthorized(
      'authenticate first: send {"action":"auth","key":"...","secret":"..."}',
      "authentication required",
    );
  const { key, secret } = frame.body;
  if (typeof key !== "string" || typeof secret !== "string" || key === "" || secret === "")
    return unauthorized("auth needs a key and a secret", "invalid credentials");
  return { state: { phase: "authenticating", queued: [] }, actions: [{ type: "authenticate", key, secret }] };
}

function parseCursorField(
  value: unknown,
): { ok: true; cursor: string | null } | { ok: false; message: string } {
  if (value === undefined || value === null) return { ok: true, cursor: null };
  if (typeof value !== "string" || !looksLikeCursor(value))
    return { ok: false, message: '"cursor" must be the cursor of a webhook message, as received' };
  return { ok: true, cursor: value };
}

function parseBucketList(
  value: unknown,
): { ok: true; refs: string[] | null } | { ok: false; message: string } {
  if (value === undefined || value === null) return { ok: true, refs: null };
  if (!Array.isArray(value) || !value.every((ref): ref is string => typeof ref === "string" && ref !== ""))
    return { ok: false, message: '"buckets" must be a list of bucket names or ids' };
  if (value.length > MAX_SUBSCRIBE_BUCKETS)
    return { ok: false, message: `at most ${MAX_SUBSCRIBE_BUCKETS} buckets per subscribe` };
  return { ok: true, refs: value.length === 0 ? null : [...new Set(value)] };
}

type ReadyState = Extract<ProtocolState, { phase: "ready" }>;

function onFrameWhenReady(state: ReadyState, text: string, at: number): Step {
  const frame = parseFrame(text);
  if (!frame.ok) return { state, actions: [error(frame.message)] };
  switch (frame.action) {
    case "pong":
      return { state, actions: [] };
    case "auth":
      return { state, actions: [error("already authenticated")] };
    case "response": {
      const parsed = parseAnswerFrame(frame.body);
      if (!parsed.ok) return { state, actions: [error(parsed.message)] };
      return {
        state,
        actions: [{ type: "answer", grant: state.grant, id: parsed.id, answer: parsed.answer }],
      };
    }
    case "subscribe": {
      const list = parseBucketList(frame.body.buckets);
      if (!list.ok) return { state, actions: [error(list.message)] };
      const cursor = parseCursorField(frame.body.cursor);
      if (!cursor.ok) return { state, actions: [error(cursor.message)] };
      // Those within the last window; all of them forgotten if the clock went back.
      const recent =
        at < (state.recentSubscribes.at(-1) ?? at)
          ? []
          : state.recentSubscribes.filter((time) => at - time < SUBSCRIBE_WINDOW_MS);
      if (recent.length >= MAX_SUBSCRIBES_PER_WINDOW)
        return {
          state: { ...state, recentSubscribes: recent },
          actions: [
            error(
              `too many subscribes: at most ${MAX_SUBSCRIBES_PER_WINDOW} per second; the current subscription stays`,
            ),
          ],
        };
      return {
        state: {
          ...state,
          subscribing: { cursor: cursor.cursor },
          recentSubscribes: [...recent, at],
        },
        actions: [{ type: "lookup_buckets", refs: list.refs }],
      };
    }
    default:
      return { state, actions: [error(`unknown action "${frame.action.slice(0, 64)}"`)] };
  }
}

const canRead = (grant: Grant, bucketId: string) =>
  grant.bucketIds === null || grant.bucketIds.includes(bucketId);

function onBuckets(
  grant: Grant,
  cursor: string | null,
  event: Extract<ProtocolEvent, { type: "buckets" }>,
): ProtocolAction[] {
  if (event.requested === null) {
    const readable = event.found.filter((bucket) => canRead(grant, bucket.id));
    const all = grant.bucketIds === null;
    return [
      {
        type: "subscribe",
        topics: all ? [ALL_BUCKETS_TOPIC] : readable.map((b) => bucketTopic(b.id)),
        bucketIds: all ? null : readable.map((b) => b.id),
        cursor,
      },
      send(statusMessage("subscribed", `subscribed to buckets: ${readable.map((b) => b.name).join(", ")}`)),
    ];
  }
  const readable = new Map<string, BucketRef>();
  for (const bucket of event.found) if (canRead(grant, bucket.id)) readable.set(bucket.id, bucket);
  // Refused refs are named as the client sent them, in its order: neither a bucket's name nor the order may
  // tell a token what exists beyond what it may read.
  const refused = event.requested.filter(
    (ref) => !event.found.some((b) => (b.id === ref || b.name === ref) && readable.has(b.id)),
  );
  if (refused.length > 0) {
    const names = refused.map((ref) => `"${ref}"`).join(", ");
    return [error(`cannot subscribe to ${names}: no such bucket, or not readable with this token`)];
  }
  const buckets = [...readable.values()];
  return [
    {
      type: "subscribe",
      topics: buckets.map((b) => bucketTopic(b.id)),
      bucketIds: buckets.map((b) => b.id),
      cursor,
    },
    send(statusMessage("subscribed", `subscribed to buckets: ${buckets.map((b) => b.name).join(", ")}`)),
  ];
}

/** Handles queued frames in order until the machine is busy again or the queue is empty. */
function drain(state: ProtocolState, queued: readonly QueuedFrame[], actions: ProtocolAction[]): Step {
  let current = state;
  for (let i = 0; i < queued.length; i++) {
    const { text, at } = queued[i] as QueuedFrame;
    const next = step(current, { type: "frame", text, at });
    actions.push(...next.actions);
    current = next.state;
    if (current.phase === "ready" && current.subscribing !== null) {
      current = { ...current, queued: queued.slice(i + 1) };
      break;
    }
    if (current.phase === "closed") break;
  }
  return { state: current, actions };
}

function queue(state: Extract<ProtocolState, { queued: readonly QueuedFrame[] }>, frame: QueuedFrame): Step {
  if (state.queued.length >= MAX_QUEUED_FRAMES)
    return {
      state: CLOSED,
      actions: [close(CloseCode.POLICY_VIOLATION, "too many messages without waiting")],
    };
  return { state: { ...state, queued: [...state.queued, frame] }, actions: [] };
}

export function step(state: ProtocolState, event: ProtocolEvent): Step {
  if (state.phase === "closed") return { state, actions: [] };

  switch (event.type) {
    case "frame":
      if (state.phase === "awaiting_auth") return onFrameBeforeAuth(event.text);
      if (state.phase === "authenticating" || state.subscribing !== null)
        return queue(state, { text: event.text, at: event.at });
      return onFrameWhenReady(state, event.text, event.at);

    case "auth_result": {
      if (state.phase !== "authenticating") return { state, actions: [] };
      if (!event.result.ok) {
        if (event.result.reason === "rate_limited")
          return { state: CLOSED, actions: [close(CloseCode.RATE_LIMITED, "too many failed attempts")] };
        return unauthorized("invalid key or secret", "invalid credentials");
      }
      const grant = event.result.grant;
      const ready: ProtocolState = {
        phase: "ready",
        grant,
        subscribing: null,
        queued: [],
        recentSubscribes: [],
      };
      return drain(ready, state.queued, [{ type: "authenticated", grant }, send(AUTHENTICATED)]);
    }

    case "buckets": {
      if (state.phase !== "ready" || state.subscribing === null) return { state, actions: [] };
      const actions = onBuckets(state.grant, state.subscribing.cursor, event);
      return drain({ ...state, subscribing: null, queued: [] }, state.queued, actions);
    }

    case "auth_timeout":
      if (state.phase === "ready") return { state, actions: [] };
      return { state: CLOSED, actions: [close(CloseCode.AUTH_TIMEOUT, "authentication timeout")] };

    case "revoked":
      return { state: CLOSED, actions: [close(CloseCode.TOKEN_REVOKED, "token revoked")] };
  }
}
