/**
 * One `/v1/socket` connection: feeds socket frames, lookup results and timers into the protocol state
 * machine and carries out the actions it returns. Nothing here decides protocol behaviour.
 */

import { StoreUnavailableError } from "../transport/errors.ts";
import { CloseCode, type Peer, type SocketSession } from "../transport/peer.ts";
import type { Answer } from "./answer-frame.ts";
import type { Feed, Subscription } from "./feed.ts";
import { PING } from "./message.ts";
import {
  type AuthResult,
  type BucketRef,
  type Grant,
  INITIAL_STATE,
  type ProtocolAction,
  type ProtocolEvent,
  type ProtocolState,
  step,
} from "./protocol.ts";

/** A handle the relay keeps per authenticated session: to ping it, and to close it when its token is revoked. */
export interface SessionHandle {
  revoke(): void;
  ping(): void;
}

export interface RelaySessionDeps {
  authenticate(address: string, key: string, secret: string): Promise<AuthResult>;
  lookupBuckets(refs: readonly string[] | null): Promise<BucketRef[]>;
  /** Called once per session that authenticated; the returned function undoes it when the socket closes. */
  authenticated(handle: SessionHandle, grant: Grant): () => void;
  /** Counts the session as waiting for auth; false when too many are, and the socket is turned away. */
  admitPending(): boolean;
  releasePending(): void;
  /** An agent's answer for a sender waiting on it (response passthrough); unknown ids are ignored. */
  answer(grant: Grant, id: string, answer: Answer): void;
  /** Starts feeding the socket this subscription (live, or from the store first). */
  startFeed(peer: Peer, subscription: Subscription): Feed;
  /**
   * A socket with more than this queued skips a ping: data is on its way to it anyway, and a send while the
   * queue is past Bun's backpressure limit would close the socket.
   */
  pingMaxQueuedBytes: number;
  authTimeoutMs: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

const decoder = new TextDecoder();

/** A lookup failed: a store that is away means "try again later" (1013), anything else is logged (1011). */
function closeOnFailure(deps: RelaySessionDeps, peer: Peer, what: string, error: unknown): void {
  if (error instanceof StoreUnavailableError) {
    peer.close(CloseCode.TRY_AGAIN_LATER, "Storage temporarily unavailable; reconnect shortly");
    return;
  }
  deps.log("error", `relay socket ${what} failed: ${String(error)}`);
  peer.close(CloseCode.INTERNAL_ERROR, "Internal server error");
}

/** The wait for a socket's `auth`: counted against the pending limit, ended by `auth` or by the timeout. */
function createAuthWait(deps: RelaySessionDeps, timedOut: () => void) {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let pending = false;
  return {
    /** False when too many sockets wait already: the socket is turned away. */
    start(): boolean {
      if (!deps.admitPending()) return false;
      pending = true;
      timer = setTimeout(timedOut, deps.authTimeoutMs);
      return true;
    },
    stop() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      if (pending) deps.releasePending();
      pending = false;
    },
  };
}

export function createRelaySession(deps: RelaySessionDeps, address: string): SocketSession {
  let state: ProtocolState = INITIAL_STATE;
  let peer: Peer | null = null;
  let feed: Feed | null = null;
  let release: (() => void) | null = null;
  const authWait = createAuthWait(deps, () => dispatch({ type: "auth_timeout" }));
  const stopWaitingForAuth = authWait.stop;

  const handle: SessionHandle = {
    revoke: () => dispatch({ type: "revoked" }),
    ping() {
      if (peer !== null && peer.getBufferedAmount() <= deps.pingMaxQueuedBytes) peer.send(PING);
    },
  };

  const fail = (what: string, error: unknown) => {
    state = { phase: "closed" };
    if (peer !== null) closeOnFailure(deps, peer, what, error);
  };

  const run = (action: ProtocolAction) => {
    const socket = peer;
    if (socket === null) return;
    switch (action.type) {
      case "send":
        socket.send(action.data);
        return;
      case "close":
        stopWaitingForAuth();
        socket.close(action.code, action.reason);
        return;
      case "authenticate":
        deps.authenticate(address, action.key, action.secret).then(
          (result) => dispatch({ type: "auth_result", result }),
          (error: unknown) => fail("authentication", error),
        );
        return;
      case "authenticated":
        stopWaitingForAuth();
        release = deps.authenticated(handle, action.grant);
        return;
      case "lookup_buckets":
        deps.lookupBuckets(action.refs).then(
          (found) => dispatch({ type: "buckets", requested: action.refs, found }),
          (error: unknown) => fail("subscribe", error),
        );
        return;
      case "answer":
        deps.answer(action.grant, action.id, action.answer);
        return;
      case "subscribe":
        // Replaces the previous subscription in this synchronous step: no delivery slips in between.
        feed?.stop(true);
        feed = deps.startFeed(socket, action);
        return;
    }
  };

  function dispatch(event: ProtocolEvent) {
    if (peer === null || state.phase === "closed") return;
    const next = step(state, event);
    state = next.state;
    for (const action of next.actions) run(action);
  }

  return {
    open(socket) {
      peer = socket;
      if (!authWait.start()) {
        state = { phase: "closed" };
        socket.close(CloseCode.TRY_AGAIN_LATER, "too many connections waiting to authenticate");
      }
    },
    message(_socket, message) {
      // Text is the protocol; a client library that sends JSON as a binary frame is served all the same.
      dispatch({
        type: "frame",
        text: typeof message === "string" ? message : decoder.decode(message),
        at: Date.now(),
      });
    },
    drain() {
      feed?.drain();
    },
    close() {
      stopWaitingForAuth();
      release?.();
      release = null;
      state = { phase: "closed" };
      peer = null;
      feed?.stop(false);
      feed = null;
    },
  };
}
