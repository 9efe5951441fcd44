/**
 * Property-based tests of the `/v1/socket` protocol: no sequence of frames (random JSON, random strings,
 * decoded binary, huge) and lookup results makes the state machine throw or hang, and its invariants hold
 * after every step. A smaller run drives a real server with the same kind of frames.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { looksLikeCursor } from "../../src/relay/cursor.ts";
import {
  ALL_BUCKETS_TOPIC,
  type BucketRef,
  bucketTopic,
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
import { CloseCode } from "../../src/transport/peer.ts";
import { relayFixture, relayHealth } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { wsConnect } from "../helpers/ws.ts";

const BUCKETS: BucketRef[] = [
  { id: "id-a", name: "a" },
  { id: "id-b", name: "b" },
  { id: "id-c", name: "c" },
];
const GRANTS: Grant[] = [
  { tokenId: 1, bucketIds: null },
  { tokenId: 2, bucketIds: ["id-a"] },
  { tokenId: 3, bucketIds: ["id-b", "id-c"] },
  { tokenId: 4, bucketIds: [] },
];
const STATUSES = new Set(["authenticated", "unauthorized", "subscribed", "error"]);
const CLOSE_CODES = new Set<number>(Object.values(CloseCode));

/** Frame texts: protocol-shaped objects with random fields, random JSON, random strings, decoded bytes, huge. */
const bucketRef = fc.oneof(fc.constantFrom("a", "b", "c", "id-a", "id-b", "nope", ""), fc.string());
const cursorValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.constantFrom("0badc0de-1", "0badc0de-ffffffffffff", "deadbeef-0"),
  fc.string(),
  fc.integer(),
  fc.json(),
);
const protocolFrame = fc.record(
  {
    action: fc.oneof(
      fc.constantFrom("auth", "subscribe", "pong", "dance", "AUTH"),
      fc.string(),
      fc.integer(),
    ),
    key: fc.oneof(fc.constantFrom("k", ""), fc.string(), fc.integer()),
    secret: fc.oneof(fc.constantFrom("s", ""), fc.string(), fc.constant(null)),
    buckets: fc.oneof(
      fc.constant(null),
      fc.array(bucketRef, { maxLength: 6 }),
      fc.array(fc.oneof(bucketRef, fc.integer(), fc.constant(null)), { maxLength: 4 }),
      fc.json(),
    ),
    cursor: cursorValue,
  },
  { requiredKeys: ["action"] },
);
const frameText = fc.oneof(
  { weight: 6, arbitrary: protocolFrame.map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: fc.json() },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => new TextDecoder().decode(bytes)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom("x", '{"action":"subscribe","buckets":["', "["),
        fc.integer({ min: 1000, max: 100_000 }),
      )
      .map(([start, size]) => start + "a".repeat(size)),
  },
);

/** What the driver injects next: a frame, the answer to a pending lookup, or any event at a random moment. */
type Input =
  | { kind: "frame"; text: string; advanceMs: number }
  | { kind: "answer"; grant: number; authOk: "ok" | "invalid" | "rate_limited"; deleted: boolean }
  | { kind: "event"; event: ProtocolEvent };

const anyEvent: fc.Arbitrary<ProtocolEvent> = fc.oneof(
  fc.constant<ProtocolEvent>({ type: "auth_timeout" }),
  fc.constant<ProtocolEvent>({ type: "revoked" }),
  fc
    .constantFrom(...GRANTS)
    .map<ProtocolEvent>((grant) => ({ type: "auth_result", result: { ok: true, grant } })),
  fc.constant<ProtocolEvent>({ type: "auth_result", result: { ok: false, reason: "invalid" } }),
  fc.subarray(BUCKETS).map<ProtocolEvent>((found) => ({ type: "buckets", requested: null, found })),
);

const input: fc.Arbitrary<Input> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("frame" as const),
      text: frameText,
      advanceMs: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 1500 })),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("answer" as const),
      grant: fc.integer({ min: 0, max: GRANTS.length - 1 }),
      authOk: fc.constantFrom("ok" as const, "ok" as const, "invalid" as const, "rate_limited" as const),
      deleted: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("event" as const), event: anyEvent }) },
);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function parsesAsAuth(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return (
      isObject(value) &&
      value.action === "auth" &&
      typeof value.key === "string" &&
      value.key !== "" &&
      typeof value.secret === "string" &&
      value.secret !== ""
    );
  } catch {
    return false;
  }
}

/** Runs one sequence, checking every invariant after every step; throws on the first violation. */
function runSequence(inputs: readonly Input[]) {
  let state: ProtocolState = INITIAL_STATE;
  let now = 1_000_000;
  let authenticated = false;
  let closed = false;
  // What the connection waits for; an object, so assignments inside the closures below are seen outside.
  const pending: { auth: boolean; lookup: { refs: readonly string[] | null } | null } = {
    auth: false,
    lookup: null,
  };
  let grant: Grant | null = null;
  const lookupTimes: number[] = [];
  /** Whether frames ever waited: a waiting frame's lookup happens later than the frame's own time. */
  let queuedEver = false;

  const apply = (event: ProtocolEvent) => {
    const before = state;
    const { state: next, actions } = step(state, event);
    // Closed is final: nothing happens any more.
    if (closed) {
      expect(actions).toEqual([]);
      expect(next).toBe(before);
      return;
    }
    state = next;
    check(event, before, actions);
  };

  const check = (event: ProtocolEvent, before: ProtocolState, actions: ProtocolAction[]) => {
    // An awaited lookup is answered by this event; the same step may start the next one.
    if (event.type === "buckets" && before.phase === "ready" && before.subscribing !== null)
      pending.lookup = null;
    for (const [i, action] of actions.entries()) {
      switch (action.type) {
        case "send": {
          const message: unknown = JSON.parse(action.data);
          if (!isObject(message) || message.type !== "status")
            throw new Error(`not a status: ${action.data}`);
          expect(STATUSES.has(String(message.status))).toBe(true);
          // Before authentication, nothing but `unauthorized` (and the `authenticated` that ends it).
          if (!authenticated) expect(message.status).toBe("unauthorized");
          // A refusal names only what the client sent: never a bucket's name it did not send.
          if (event.type === "buckets" && message.status === "error")
            for (const bucket of event.found)
              if (!event.requested?.includes(bucket.name))
                expect(String(message.message)).not.toContain(`"${bucket.name}"`);
          break;
        }
        case "close":
          expect(CLOSE_CODES.has(action.code)).toBe(true);
          closed = true;
          break;
        case "authenticate":
          // Only an `auth` frame with a key and a secret, as the first frame, asks for a credential check.
          expect(before.phase).toBe("awaiting_auth");
          expect(event.type === "frame" && parsesAsAuth(event.text)).toBe(true);
          pending.auth = true;
          break;
        case "authenticated":
          expect(event.type).toBe("auth_result");
          expect(authenticated).toBe(false);
          expect(actions[i + 1]).toMatchObject({ type: "send" });
          authenticated = true;
          grant = action.grant;
          pending.auth = false;
          break;
        case "lookup_buckets":
          expect(authenticated).toBe(true);
          expect(pending.lookup).toBeNull();
          pending.lookup = { refs: action.refs };
          lookupTimes.push(now);
          break;
        case "subscribe": {
          // Only as the answer to a lookup; exactly the buckets asked for, never merged with the last set.
          expect(event.type).toBe("buckets");
          if (event.type !== "buckets" || grant === null) throw new Error("subscribe without a lookup");
          const g: Grant = grant;
          const readable = event.found.filter((b) => g.bucketIds === null || g.bucketIds.includes(b.id));
          if (event.requested === null && g.bucketIds === null) {
            expect(action.topics).toEqual([ALL_BUCKETS_TOPIC]);
            expect(action.bucketIds).toBeNull();
          } else {
            // Subscribed only when every ref sent names a bucket this token may read.
            for (const ref of event.requested ?? [])
              expect(readable.some((b) => b.id === ref || b.name === ref)).toBe(true);
            if (event.requested !== null) expect(readable).toEqual([...event.found]);
            expect(action.topics).toEqual(readable.map((b) => bucketTopic(b.id)));
            expect(action.bucketIds).toEqual(readable.map((b) => b.id));
          }
          if (action.cursor !== null) expect(looksLikeCursor(action.cursor)).toBe(true);
          expect(actions[i + 1]).toMatchObject({ type: "send" });
          expect(JSON.parse((actions[i + 1] as { data: string }).data).status).toBe("subscribed");
          break;
        }
      }
    }
    if (state.phase === "closed") expect(closed).toBe(true);
    if (closed) expect(state.phase).toBe("closed");
    if (state.phase === "authenticating" || state.phase === "ready") {
      expect(state.queued.length).toBeLessThanOrEqual(MAX_QUEUED_FRAMES);
      if (state.queued.length > 0) queuedEver = true;
    }
    if (state.phase === "ready")
      expect(state.recentSubscribes.length).toBeLessThanOrEqual(MAX_SUBSCRIBES_PER_WINDOW);
    // Nothing but `auth` is accepted before authentication.
    if (!authenticated) expect(state.phase === "ready").toBe(false);
  };

  for (const item of inputs) {
    if (item.kind === "frame") {
      now += item.advanceMs;
      apply({ type: "frame", text: item.text, at: now });
    } else if (item.kind === "answer") {
      if (pending.auth && state.phase === "authenticating") {
        const g = GRANTS[item.grant] as Grant;
        apply({
          type: "auth_result",
          result: item.authOk === "ok" ? { ok: true, grant: g } : { ok: false, reason: item.authOk },
        });
      } else if (pending.lookup !== null) {
        const refs = pending.lookup.refs;
        // `deleted`: the buckets went while the lookup ran, so none is found.
        const found = item.deleted
          ? []
          : refs === null
            ? BUCKETS
            : BUCKETS.filter((b) => refs.includes(b.id) || refs.includes(b.name));
        apply({ type: "buckets", requested: refs, found });
      }
    } else {
      apply(item.event);
    }
  }
  // The rate limit holds over every window of time (times only move forward here).
  for (let i = 0; i < lookupTimes.length && !queuedEver; i++) {
    const start = lookupTimes[i] as number;
    const inWindow = lookupTimes.filter((t) => t >= start && t < start + SUBSCRIBE_WINDOW_MS).length;
    expect(inWindow).toBeLessThanOrEqual(MAX_SUBSCRIBES_PER_WINDOW);
  }
}

describe("the socket protocol under random input", () => {
  test("no sequence throws or hangs, and every invariant holds after every step", () => {
    const started = Date.now();
    fc.assert(
      fc.property(fc.array(input, { minLength: 1, maxLength: 80 }), (inputs) => {
        const t0 = performance.now();
        runSequence(inputs);
        // A sequence of at most 80 steps is pure computation: far under a second, or something loops.
        expect(performance.now() - t0).toBeLessThan(1000);
      }),
      { numRuns: 3000 },
    );
    console.log(`protocol fuzz: 3000 sequences in ${Date.now() - started} ms`);
  }, 60_000);

  test("an authenticated connection that subscribes in a burst is served at most the allowed rate", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 200 }), (gaps) => {
        const inputs: Input[] = [
          { kind: "frame", text: JSON.stringify({ action: "auth", key: "k", secret: "s" }), advanceMs: 0 },
          { kind: "answer", grant: 0, authOk: "ok", deleted: false },
        ];
        for (const gap of gaps) {
          inputs.push({ kind: "frame", text: JSON.stringify({ action: "subscribe" }), advanceMs: gap });
          inputs.push({ kind: "answer", grant: 0, authOk: "ok", deleted: false });
        }
        runSequence(inputs);
      }),
      { numRuns: 300 },
    );
  });
});

describe("a real server under random frames", () => {
  test("stays healthy; each socket stays open or closes with a documented code", async () => {
    await using server = await startTestServer({ env: { WS_MAX_PAYLOAD_BYTES: "65536" } });
    await using relay = await relayFixture(server);
    await relay.createBucket("a");
    const token = await relay.createToken();
    const frame = fc.oneof(
      { weight: 4, arbitrary: frameText.map((text) => ({ text, binary: false })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 500 }).map((bytes) => ({ bytes, binary: true })) },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: 60_000, max: 70_000 })
          .map((n) => ({ text: "x".repeat(n), binary: false })),
      },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(frame, { minLength: 1, maxLength: 12 }),
        async (authFirst, frames) => {
          const socket = await wsConnect(server.wsUrl("/v1/socket"));
          if (authFirst) {
            socket.send(JSON.stringify({ action: "auth", ...token }));
            expect((await socket.nextJson()).status).toBe("authenticated");
          }
          for (const f of frames) {
            if (socket.socket.readyState !== WebSocket.OPEN) break;
            if ("bytes" in f) socket.socket.send(f.bytes);
            else socket.send(f.text);
          }
          // A last frame whose answer proves the socket was served through everything before it.
          if (socket.socket.readyState === WebSocket.OPEN) socket.send('{"action":"dance"}');
          const answered = (async () => {
            for (;;) {
              const message = await socket.nextJson(5000);
              if (message.message === 'unknown action "dance"') return true;
            }
          })();
          const outcome = await Promise.race([
            socket.closed,
            answered.then(
              () => "answered" as const,
              // Closed while waiting (the race settles with the close), or no answer at all.
              () => Promise.race([socket.closed, Bun.sleep(5000).then(() => "hung" as const)]),
            ),
          ]);
          expect(outcome).not.toBe("hung");
          if (typeof outcome !== "string") expect(CLOSE_CODES.has(outcome.code)).toBe(true);
          socket.close();
          const health = await fetch(server.httpUrl("/health"));
          expect(health.status).toBe(200);
        },
      ),
      { numRuns: 40 },
    );
    // Still serving: a fresh client authenticates and subscribes.
    const fresh = await relay.subscribed(token, ["a"]);
    fresh.close();
    expect((await relayHealth(server)).deliveries_failed).toBe(0);
  }, 60_000);
});
