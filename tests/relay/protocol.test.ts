/**
 * The `/v1/socket` state machine, event by event: what it answers and which state it ends in.
 */
import { describe, expect, test } from "bun:test";
import {
  ALL_BUCKETS_TOPIC,
  type Grant,
  INITIAL_STATE,
  MAX_QUEUED_FRAMES,
  MAX_SUBSCRIBES_PER_WINDOW,
  type ProtocolAction,
  type ProtocolEvent,
  type ProtocolState,
  SUBSCRIBE_WINDOW_MS,
  step,
} from "../../src/relay/protocol.ts";

const AUTHENTICATED =
  '{"type":"status","status":"authenticated","message":"connected successfully, subscribe to buckets"}';
const frame = (value: unknown, at = 0): ProtocolEvent => ({
  type: "frame",
  text: typeof value === "string" ? value : JSON.stringify(value),
  at,
});
const sent = (actions: ProtocolAction[]) =>
  actions.flatMap((a) => (a.type === "send" ? [JSON.parse(a.data) as Record<string, unknown>] : []));
const closes = (actions: ProtocolAction[]) => actions.filter((a) => a.type === "close");

const ALL: Grant = { tokenId: 1, bucketIds: null };
const ONLY_A: Grant = { tokenId: 2, bucketIds: ["id-a"] };
const ready = (grant: Grant, recentSubscribes: number[] = []): ProtocolState => ({
  phase: "ready",
  grant,
  subscribing: null,
  queued: [],
  recentSubscribes,
});
const subscribing = (grant: Grant, cursor: string | null = null): ProtocolState => ({
  phase: "ready",
  grant,
  subscribing: { cursor },
  queued: [],
  recentSubscribes: [0],
});
const A = { id: "id-a", name: "a" };
const B = { id: "id-b", name: "b" };

/** Runs events in order from a state; returns the final state and every action. */
function run(state: ProtocolState, events: ProtocolEvent[]) {
  const actions: ProtocolAction[] = [];
  for (const event of events) {
    const next = step(state, event);
    state = next.state;
    actions.push(...next.actions);
  }
  return { state, actions };
}

describe("before authentication", () => {
  const refused: Array<[string, unknown]> = [
    ["a subscribe before auth", { action: "subscribe" }],
    ["a pong before auth", { action: "pong" }],
    ["invalid JSON before auth", "{nope"],
    ["a JSON array", [1]],
    ["an object without action", { key: "k" }],
    ["an unknown action", { action: "hello" }],
  ];
  for (const [name, value] of refused)
    test(`${name} is unauthorized and closes 4001`, () => {
      const { state, actions } = step(INITIAL_STATE, frame(value));
      expect(state.phase).toBe("closed");
      expect(sent(actions)[0]).toMatchObject({ type: "status", status: "unauthorized" });
      expect(closes(actions)).toEqual([{ type: "close", code: 4001, reason: "authentication required" }]);
    });

  const badShapes: Array<[string, unknown]> = [
    ["auth without secret", { action: "auth", key: "k" }],
    ["auth with a numeric key", { action: "auth", key: 1, secret: "s" }],
    ["auth with empty strings", { action: "auth", key: "", secret: "" }],
  ];
  for (const [name, value] of badShapes)
    test(`${name} is unauthorized without a lookup`, () => {
      const { actions } = step(INITIAL_STATE, frame(value));
      expect(actions.some((a) => a.type === "authenticate")).toBe(false);
      expect(closes(actions)).toEqual([{ type: "close", code: 4001, reason: "invalid credentials" }]);
    });

  test("auth asks for a credential check and waits", () => {
    const { state, actions } = step(INITIAL_STATE, frame({ action: "auth", key: "k", secret: "s" }));
    expect(state).toEqual({ phase: "authenticating", queued: [] });
    expect(actions).toEqual([{ type: "authenticate", key: "k", secret: "s" }]);
  });

  test("a good result authenticates with the exact status message", () => {
    const { state, actions } = step(
      { phase: "authenticating", queued: [] },
      {
        type: "auth_result",
        result: { ok: true, grant: ALL },
      },
    );
    expect(state).toEqual(ready(ALL));
    expect(actions).toEqual([
      { type: "authenticated", grant: ALL },
      { type: "send", data: AUTHENTICATED },
    ]);
  });

  test("bad credentials are unauthorized and close 4001", () => {
    const { state, actions } = step(
      { phase: "authenticating", queued: [] },
      {
        type: "auth_result",
        result: { ok: false, reason: "invalid" },
      },
    );
    expect(state.phase).toBe("closed");
    expect(sent(actions)).toEqual([
      { type: "status", status: "unauthorized", message: "invalid key or secret" },
    ]);
    expect(closes(actions)).toEqual([{ type: "close", code: 4001, reason: "invalid credentials" }]);
  });

  test("a rate-limited address closes 4208 without `unauthorized` (clients would stop reconnecting)", () => {
    const { actions } = step(
      { phase: "authenticating", queued: [] },
      {
        type: "auth_result",
        result: { ok: false, reason: "rate_limited" },
      },
    );
    expect(actions).toEqual([{ type: "close", code: 4208, reason: "too many failed attempts" }]);
  });

  test("the auth timeout closes 4202 while waiting or checking, and is ignored once authenticated", () => {
    const timeout: ProtocolEvent = { type: "auth_timeout" };
    expect(step(INITIAL_STATE, timeout).actions).toEqual([
      { type: "close", code: 4202, reason: "authentication timeout" },
    ]);
    expect(closes(step({ phase: "authenticating", queued: [] }, timeout).actions)).toHaveLength(1);
    expect(step(ready(ALL), timeout)).toEqual({ state: ready(ALL), actions: [] });
  });

  test("frames pipelined behind auth are handled in order after it succeeds", () => {
    const { state, actions } = run(INITIAL_STATE, [
      frame({ action: "auth", key: "k", secret: "s" }),
      frame({ action: "subscribe", buckets: ["a"] }),
      frame({ action: "pong" }),
      { type: "auth_result", result: { ok: true, grant: ALL } },
    ]);
    expect(actions.map((a) => a.type)).toEqual(["authenticate", "authenticated", "send", "lookup_buckets"]);
    expect(state).toEqual({
      phase: "ready",
      grant: ALL,
      subscribing: { cursor: null },
      queued: [{ text: '{"action":"pong"}', at: 0 }],
      recentSubscribes: [0],
    });
  });

  test(`more than ${MAX_QUEUED_FRAMES} frames without waiting closes 1008`, () => {
    const events = [frame({ action: "auth", key: "k", secret: "s" })];
    for (let i = 0; i <= MAX_QUEUED_FRAMES; i++) events.push(frame({ action: "pong" }));
    const { state, actions } = run(INITIAL_STATE, events);
    expect(state.phase).toBe("closed");
    expect(closes(actions)).toEqual([
      { type: "close", code: 1008, reason: "too many messages without waiting" },
    ]);
  });
});

describe("once authenticated", () => {
  const errors: Array<[string, unknown, string]> = [
    ["invalid JSON", "{nope", "invalid JSON"],
    ["an unknown action", { action: "dance" }, 'unknown action "dance"'],
    ["a second auth", { action: "auth", key: "k", secret: "s" }, "already authenticated"],
    [
      "buckets that are not a list",
      { action: "subscribe", buckets: "a" },
      '"buckets" must be a list of bucket names or ids',
    ],
    [
      "buckets with a non-string",
      { action: "subscribe", buckets: ["a", 1] },
      '"buckets" must be a list of bucket names or ids',
    ],
    ["a missing action", { buckets: [] }, 'missing "action"'],
    [
      "a cursor that is not a string",
      { action: "subscribe", cursor: 12 },
      '"cursor" must be the cursor of a webhook message, as received',
    ],
    [
      "a cursor of the wrong shape (a meta.id)",
      { action: "subscribe", cursor: "1234" },
      '"cursor" must be the cursor of a webhook message, as received',
    ],
  ];
  for (const [name, value, message] of errors)
    test(`${name} gets an error status and the connection stays`, () => {
      const { state, actions } = step(ready(ALL), frame(value));
      expect(state).toEqual(ready(ALL));
      expect(actions).toEqual([
        { type: "send", data: JSON.stringify({ type: "status", status: "error", message }) },
      ]);
    });

  test("pong is accepted silently", () =>
    expect(step(ready(ALL), frame({ action: "pong" }))).toEqual({ state: ready(ALL), actions: [] }));

  const lookups: Array<[string, unknown, readonly string[] | null]> = [
    ["no buckets field means all", { action: "subscribe" }, null],
    ["null means all", { action: "subscribe", buckets: null }, null],
    ["an empty list means all", { action: "subscribe", buckets: [] }, null],
    [
      "names and ids are looked up once each",
      { action: "subscribe", buckets: ["a", "id-b", "a"] },
      ["a", "id-b"],
    ],
  ];
  for (const [name, value, refs] of lookups)
    test(`subscribe: ${name}`, () => {
      const { state, actions } = step(ready(ALL), frame(value));
      expect(state).toEqual(subscribing(ALL));
      expect(actions).toEqual([{ type: "lookup_buckets", refs }]);
    });
});

describe("subscribe with a cursor and the subscribe rate", () => {
  test("a cursor is carried from the subscribe to the subscription it makes", () => {
    const { state, actions } = run(ready(ALL), [
      frame({ action: "subscribe", buckets: ["a"], cursor: "0badc0de-1f" }),
      { type: "buckets", requested: ["a"], found: [A] },
    ]);
    expect(actions[1]).toEqual({
      type: "subscribe",
      topics: ["relay/id-a"],
      bucketIds: ["id-a"],
      cursor: "0badc0de-1f",
    });
    expect(state).toMatchObject({ phase: "ready", subscribing: null });
  });

  test(`past ${MAX_SUBSCRIBES_PER_WINDOW} subscribes within a second, one gets an error and changes nothing`, () => {
    let state = ready(ALL);
    for (let i = 0; i < MAX_SUBSCRIBES_PER_WINDOW; i++) {
      const next = run(state, [
        frame({ action: "subscribe" }, 100 + i * 50),
        { type: "buckets", requested: null, found: [A] },
      ]);
      expect(next.actions.map((a) => a.type)).toEqual(["lookup_buckets", "subscribe", "send"]);
      state = next.state;
    }
    const refused = step(state, frame({ action: "subscribe" }, 900));
    expect(refused.actions).toEqual([
      {
        type: "send",
        data: JSON.stringify({
          type: "status",
          status: "error",
          message: `too many subscribes: at most ${MAX_SUBSCRIBES_PER_WINDOW} per second; the current subscription stays`,
        }),
      },
    ]);
    expect(refused.state).toMatchObject({ subscribing: null });
    // Any second counts, not calendar seconds: at 1,099 ms the first subscribe is still within the last second.
    expect(
      step(refused.state, frame({ action: "subscribe" }, 99 + SUBSCRIBE_WINDOW_MS)).actions[0],
    ).toMatchObject({
      type: "send",
    });
    // A second after the first, one more fits.
    const later = step(refused.state, frame({ action: "subscribe" }, 100 + SUBSCRIBE_WINDOW_MS));
    expect(later.actions).toEqual([{ type: "lookup_buckets", refs: null }]);
  });

  test("a clock that goes back starts a new window instead of refusing forever", () => {
    let state = ready(ALL);
    for (let i = 0; i < MAX_SUBSCRIBES_PER_WINDOW; i++)
      state = run(state, [
        frame({ action: "subscribe" }, 10_000),
        { type: "buckets", requested: null, found: [A] },
      ]).state;
    expect(step(state, frame({ action: "subscribe" }, 5_000)).actions[0]?.type).toBe("lookup_buckets");
  });
});

describe("subscribe results", () => {
  const result = (requested: string[] | null, found: (typeof A)[]): ProtocolEvent => ({
    type: "buckets",
    requested,
    found,
  });

  test("all buckets for an unrestricted token: the all-buckets topic, names listed", () => {
    const { state, actions } = step(subscribing(ALL), result(null, [A, B]));
    expect(state).toEqual(ready(ALL, [0]));
    expect(actions).toEqual([
      { type: "subscribe", topics: [ALL_BUCKETS_TOPIC], bucketIds: null, cursor: null },
      {
        type: "send",
        data: '{"type":"status","status":"subscribed","message":"subscribed to buckets: a, b"}',
      },
    ]);
  });

  test("all buckets for a restricted token: only its own, by topic", () => {
    const { actions } = step(subscribing(ONLY_A), result(null, [A, B]));
    expect(actions).toEqual([
      { type: "subscribe", topics: ["relay/id-a"], bucketIds: ["id-a"], cursor: null },
      { type: "send", data: '{"type":"status","status":"subscribed","message":"subscribed to buckets: a"}' },
    ]);
  });

  test("named buckets the token may read", () => {
    const { actions } = step(subscribing(ALL), result(["b", "id-a"], [B, A]));
    expect(actions).toEqual([
      { type: "subscribe", topics: ["relay/id-b", "relay/id-a"], bucketIds: ["id-b", "id-a"], cursor: null },
      {
        type: "send",
        data: '{"type":"status","status":"subscribed","message":"subscribed to buckets: b, a"}',
      },
    ]);
  });

  test("an unknown bucket is an error naming it, and topics stay as they were", () => {
    const { state, actions } = step(subscribing(ALL), result(["a", "nope"], [A]));
    expect(state).toEqual(ready(ALL, [0]));
    expect(actions).toHaveLength(1);
    expect(sent(actions)[0]).toMatchObject({ status: "error" });
    expect(String(sent(actions)[0]?.message)).toContain('"nope"');
  });

  test("a bucket the token may not read is refused by name", () => {
    const { actions } = step(subscribing(ONLY_A), result(["a", "b"], [A, B]));
    expect(actions.some((a) => a.type === "subscribe")).toBe(false);
    expect(String(sent(actions)[0]?.message)).toContain('"b"');
  });

  test("a bucket the token may not read, asked for by id, is named by that id and never by its name", () => {
    const { actions } = step(subscribing(ONLY_A), result(["id-b"], [B]));
    expect(sent(actions)).toEqual([
      {
        type: "status",
        status: "error",
        message: 'cannot subscribe to "id-b": no such bucket, or not readable with this token',
      },
    ]);
  });

  test("refused refs are listed in the order sent, so the order tells nothing about which exist", () => {
    const existingFirst = step(subscribing(ONLY_A), result(["id-b", "nope"], [B]));
    const missingFirst = step(subscribing(ONLY_A), result(["nope", "id-b"], [B]));
    expect(String(sent(existingFirst.actions)[0]?.message)).toContain('"id-b", "nope"');
    expect(String(sent(missingFirst.actions)[0]?.message)).toContain('"nope", "id-b"');
  });

  test("a result nobody waits for is ignored", () =>
    expect(step(ready(ALL), result(null, [A]))).toEqual({ state: ready(ALL), actions: [] }));
});

describe("revocation and closed sockets", () => {
  test("revocation closes 4003 from any open state", () => {
    for (const state of [INITIAL_STATE, ready(ALL), subscribing(ONLY_A)])
      expect(step(state, { type: "revoked" })).toEqual({
        state: { phase: "closed" },
        actions: [{ type: "close", code: 4003, reason: "token revoked" }],
      });
  });

  test("a closed socket ignores everything", () => {
    const closed: ProtocolState = { phase: "closed" };
    for (const event of [
      frame({ action: "pong" }),
      { type: "auth_timeout" } as const,
      { type: "revoked" } as const,
    ])
      expect(step(closed, event)).toEqual({ state: closed, actions: [] });
  });
});
