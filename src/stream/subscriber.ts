/**
 * One subscriber of a positioned stream, log stream and relay alike. It is either *live* (on its topics, fed
 * by Bun's fan-out) or *catching up* (fed from storage at its own pace). Catching up is how a client that asks
 * for a starting point begins, and how a slow socket is served: when the lag rule takes it off the live
 * topics, it continues from storage right after the last item the topics queued for it.
 *
 * Switching to live happens in one synchronous step: when a read found nothing after the position the live
 * topics had reached (`published()`), and nothing was published since that read, joining the topics now means
 * the next item arrives live — no gap and no duplicate at the seam.
 *
 * The socket's pace rules: nothing is read ahead, sent, or joined while the socket holds more than its
 * high-water mark (its share of the stream's catch-up total when many catch up at once); a socket that drains
 * nothing for the stall timeout is closed (TOO_SLOW); a lagging one that fell behind what storage keeps is
 * closed (BEHIND_RETENTION) and told the gap when it resumes, while one that asked for a start is told at once
 * and goes on.
 */
import { createDrainWaiter, type DrainWaiter } from "../transport/drain.ts";
import { CloseCode, type Peer } from "../transport/peer.ts";

/** One step of a read: what to send, and how far the read went. */
export interface StreamPage {
  /** In order: an item to send, or positions `from`…`through` that cannot be read (reported as a gap). */
  items: Array<{ position: number; payload: string } | { from: number; through: number; reason: string }>;
  /** The read covered everything up to here (items it skipped, such as other filters', included). */
  readThrough: number;
  /** Retention removed every position up to here. */
  prunedThrough: number;
}

/** A reader of one subscriber's view of the stream (its filters applied); it may keep state between steps. */
export interface StreamReader {
  /**
   * Items after `after`, bounded in count and bytes, up to about `through`. `maxBytes`: the page's payloads
   * should not pass it (a page still holds at least one item, however large), so that what the sockets
   * catching up at once hold in pages stays within their shared total.
   */
  next(after: number, through: number, maxBytes: number): Promise<StreamPage>;
  close(): void;
}

/** The positioned source seam: where the live fan-out is, and reading from storage. */
export interface PositionedSource {
  /** Everything up to this position has been published to the live topics. */
  published(): number;
  reader(): StreamReader;
  cursorOf(position: number): string;
  /** The position a cursor names; null when it is not of this history (another server, a reset). */
  positionOf(cursor: string): number | null;
  /** Where a client whose cursor is unknown starts: before everything storage retains. */
  origin(): number;
}

/** A catching-up socket, log stream or relay, is sent stored items while less than this is queued on it. */
export const CATCH_UP_HIGH_WATER_BYTES = 256 * 1024;

export interface CatchUpLimits {
  /** Queued bytes under which a catch-up keeps sending; above it, it waits for the socket to drain. */
  catchUpHighWaterBytes: number;
  /**
   * What the sockets of one stream that catch up at once hold together at most, queued and in the page each
   * is sending: each one's high-water mark and page are at most a share of it (catchUpShareBytes), plus one
   * item each. Without it the sum grows with the sockets catching up (a lag wave, many clients resuming).
   */
  catchUpTotalBytes?: number;
  /** A socket that drains nothing for this long while catching up is closed with TOO_SLOW. */
  stallTimeoutMs: number;
  /**
   * Cluster mode: how long a cursor ahead of this instance is waited for. Every instance follows one stream,
   * and the one that gave out the cursor may simply have read it a little sooner.
   */
  cursorAheadWaitMs?: number;
}

export interface CatchUpStats {
  /** Sockets currently fed from storage (starting from a cursor or backfill, or lagging). */
  catchingUp: number;
  closedTooSlow: number;
  closedBehindRetention: number;
  gapsReported: number;
}

/**
 * The most one catching-up socket may queue, and the most its next page may hold, with `catchingUp` sockets
 * of its stream catching up: `catchUpHighWaterBytes`, or an equal share of the total when that is less (half
 * of it for the queues, half for the pages). Pure.
 */
export function catchUpShareBytes(limits: CatchUpLimits, catchingUp: number): number {
  const total = limits.catchUpTotalBytes ?? Number.POSITIVE_INFINITY;
  return Math.min(limits.catchUpHighWaterBytes, Math.floor(total / (2 * Math.max(1, catchingUp))));
}

/** What differs between the endpoints: their frames and the words of their notices. */
export interface SubscriberProtocol {
  /** Sent once a client that asked for a starting point has everything and is live. */
  live: string;
  gap(requested: string | null, resumedFrom: string, reason: string): string;
  /** Why a client that asked for a start is told entries are gone. */
  pruned: string;
  /** The close reason of a lagging client that fell behind retention. */
  behindRetention: string;
  /** The close reason of a lagging client whose next items cannot be read. */
  missing: string;
  /** Why a client whose cursor is of another history is told a gap. */
  unknownCursor: string;
}

export interface SubscriberDeps {
  peer: Peer;
  source: PositionedSource;
  limits: CatchUpLimits;
  stats: CatchUpStats;
  protocol: SubscriberProtocol;
  /** Joins the live topics; called in the synchronous step that found the subscriber caught up. */
  joinLive(): void;
  /** Resolves once the stream holds `position` (true), or after `timeoutMs` (false): see `resume`. */
  reached(position: number, timeoutMs: number): Promise<boolean>;
  /** A read failed: the endpoint closes the socket with what fits (storage unavailable, history reset…). */
  onFailure(error: unknown): void;
}

/** How a catch-up treats a gap: a requested start is told and goes on; a lagging client is closed. */
export type GapMode = "notify" | "close";

export interface Subscriber {
  /**
   * Starts what a client asked for: live at once (no cursor); right after its cursor, waited for (bounded,
   * `cursorAheadWaitMs`) when it is ahead of this instance and taken as the newest item when still ahead (a
   * store restored from a backup); or, for a cursor of another history, from the oldest retained item after a
   * gap notice.
   */
  resume(cursor: string | null): Promise<void>;
  /**
   * Catches up from after `after`, then goes live. `requested`: the cursor the client asked for, named in a
   * gap notice; `notice`: a gap to report before anything else (an unknown cursor).
   */
  catchUp(after: number, mode: GapMode, requested?: string | null, notice?: string | null): Promise<void>;
  /** Sends payloads from elsewhere than the source at the socket's pace; false when it closed or stalled. */
  sendAtPace(payloads: readonly string[]): Promise<boolean>;
  /** Whether a catch-up is running. */
  catchingUp(): boolean;
  /** The socket drained (Bun's drain event). */
  drained(): void;
  /** The socket closed or the subscription ended: a running catch-up stops. */
  stop(): void;
}

/** What the steps of a subscriber share. */
interface SubscriberState {
  deps: SubscriberDeps;
  stopped: boolean;
  running: boolean;
  drain: DrainWaiter;
}

/** This socket's high-water mark now: its share while it catches up, else its own. */
function highWater(state: SubscriberState): number {
  const { limits, stats } = state.deps;
  return state.running ? catchUpShareBytes(limits, stats.catchingUp) : limits.catchUpHighWaterBytes;
}

/** True once the socket's queue is under the high-water mark; false, after closing it, when it stalled. */
async function room(state: SubscriberState): Promise<boolean> {
  const { peer, stats } = state.deps;
  if (peer.getBufferedAmount() <= highWater(state) || (await state.drain.wait())) return !state.stopped;
  if (state.stopped) return false;
  stats.closedTooSlow++;
  peer.close(CloseCode.TOO_SLOW, "Client too slow: resume with the last cursor");
  return false;
}

function closeBehind(state: SubscriberState, reason: string): void {
  state.deps.stats.closedBehindRetention++;
  state.deps.peer.close(CloseCode.BEHIND_RETENTION, reason);
}

/** Sends a page's items while the socket has room; false when the catch-up must end. */
async function sendPage(
  state: SubscriberState,
  page: StreamPage,
  mode: GapMode,
  at: { position: number },
): Promise<boolean> {
  const { peer, stats, protocol, source } = state.deps;
  let index = 0;
  while (index < page.items.length) {
    if (!(await room(state))) return false;
    let missing = false;
    const mark = highWater(state);
    peer.cork(() => {
      while (index < page.items.length && peer.getBufferedAmount() <= mark) {
        const item = page.items[index++] as StreamPage["items"][number];
        if ("payload" in item) {
          peer.send(item.payload);
          at.position = item.position;
          continue;
        }
        if (mode === "close") {
          missing = true;
          return;
        }
        stats.gapsReported++;
        peer.send(protocol.gap(source.cursorOf(item.from), source.cursorOf(item.through + 1), item.reason));
        at.position = item.through;
      }
    });
    if (missing) {
      closeBehind(state, protocol.missing);
      return false;
    }
  }
  return true;
}

/** Tells the client what it asked for is gone, naming where the page resumes; moves past what was pruned. */
function sendGapNotice(
  state: SubscriberState,
  page: StreamPage,
  at: { position: number },
  requested: string | null,
  reason: string,
): void {
  const { peer, stats, protocol, source } = state.deps;
  const first = page.items[0];
  const resumedFrom =
    first === undefined ? page.readThrough + 1 : "payload" in first ? first.position : first.from;
  stats.gapsReported++;
  peer.send(
    protocol.gap(requested ?? source.cursorOf(at.position + 1), source.cursorOf(resumedFrom), reason),
  );
  at.position = Math.max(at.position, page.prunedThrough);
}

/** The catch-up loop (see Subscriber.catchUp): read a page, send it at the socket's pace, join at the end. */
async function catchUp(
  state: SubscriberState,
  after: number,
  mode: GapMode,
  requested: string | null,
  notice: string | null,
): Promise<void> {
  const { peer, source, stats, protocol } = state.deps;
  if (state.running) return;
  state.running = true;
  stats.catchingUp++;
  const reader = source.reader();
  const at = { position: after };
  let pendingNotice = notice;
  try {
    while (!state.stopped) {
      if (!(await room(state))) return;
      const target = source.published();
      // The page is held to the same share as the queue: highWater is this socket's share while it runs.
      const page = await reader.next(at.position, target, highWater(state));
      if (state.stopped) return;
      if (pendingNotice === null && page.prunedThrough > at.position) {
        if (mode === "close") return closeBehind(state, protocol.behindRetention);
        pendingNotice = protocol.pruned;
      }
      if (pendingNotice !== null) {
        sendGapNotice(state, page, at, requested, pendingNotice);
        pendingNotice = null;
        requested = null;
      }
      if (!(await sendPage(state, page, mode, at)) || state.stopped) return;
      at.position = Math.max(at.position, page.readThrough);
      if (page.items.length > 0 || at.position < target) continue;
      // Nothing after `target`: if nothing was published since the read, join now, in this step.
      if (source.published() !== target) continue;
      state.deps.joinLive();
      if (mode === "notify") peer.send(protocol.live);
      return;
    }
  } catch (error) {
    if (!state.stopped) state.deps.onFailure(error);
  } finally {
    reader.close();
    state.running = false;
    stats.catchingUp--;
  }
}

async function resume(state: SubscriberState, cursor: string | null): Promise<void> {
  const { source, limits, protocol } = state.deps;
  if (cursor === null) return state.deps.joinLive();
  const position = source.positionOf(cursor);
  if (position === null) return catchUp(state, source.origin(), "notify", cursor, protocol.unknownCursor);
  await state.deps.reached(position, limits.cursorAheadWaitMs ?? 0);
  if (state.stopped) return;
  // Still ahead (storage restored from a backup): continue from the newest item.
  return catchUp(state, Math.min(position, source.published()), "notify", cursor, null);
}

export function createSubscriber(deps: SubscriberDeps): Subscriber {
  const state: SubscriberState = {
    deps,
    stopped: false,
    running: false,
    drain: createDrainWaiter(
      () => state.stopped || deps.peer.getBufferedAmount() <= highWater(state),
      deps.limits.stallTimeoutMs,
    ),
  };
  return {
    resume: (cursor) => resume(state, cursor),
    catchUp: (after, mode, requested = null, notice = null) => catchUp(state, after, mode, requested, notice),
    async sendAtPace(payloads) {
      for (const payload of payloads) {
        if (!(await room(state))) return false;
        deps.peer.send(payload);
      }
      return !state.stopped;
    },
    catchingUp: () => state.running,
    drained: () => state.drain.drained(),
    stop() {
      state.stopped = true;
      state.drain.drained();
    },
  };
}
