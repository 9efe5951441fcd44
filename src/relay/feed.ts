/**
 * What one `/v1/socket` subscription receives. It is either *live* (on its bucket topics, fed by Bun's
 * fan-out) or *catching up* (fed from the delivery store at the socket's own pace). Catching up is how a
 * subscribe with a `cursor` starts, and how a slow socket is served: when its send buffer passes the lag
 * limit the fan-out takes it off the live topics, and it continues from the store right after the last
 * delivery the topics queued for it. It rejoins the live topics once it has caught up, in one synchronous
 * step at the highest published id, so there is no gap and no duplicate at the seam (see fanout.ts).
 *
 * Only a socket that drains nothing for the stall timeout (4100) or, while lagging, falls behind what
 * retention keeps (4101) is closed; it resumes with the cursor of the last delivery it received.
 */
import { createDrainWaiter } from "../transport/drain.ts";
import { CloseCode, type Peer } from "../transport/peer.ts";
import type { CursorCodec } from "./cursor.ts";
import type { Fanout, LiveMember } from "./fanout.ts";
import { gapMessage, LIVE, webhookMessages } from "./message.ts";
import { type DeliveryStore, type ReplayedDelivery, StoreUnavailableError } from "./store.ts";

/** Deliveries read from the store per step of a catch-up. */
export const CATCH_UP_PAGE_ROWS = 256;
/** Body bytes read per step (at least one delivery, however large): bounds a catch-up's memory. */
export const CATCH_UP_PAGE_BYTES = 1024 * 1024;

export interface FeedLimits {
  /** Queued bytes under which a catch-up keeps sending; above it, it waits for the socket to drain. */
  catchUpHighWaterBytes: number;
  /** A socket that drains nothing for this long while catching up is closed with 4100. */
  stallTimeoutMs: number;
  /**
   * Cluster mode: how long a cursor ahead of what this instance published is waited for. Every instance
   * follows one stream, and the one that gave out the cursor may simply have read it a little sooner.
   */
  cursorAheadWaitMs?: number;
}

export interface FeedStats {
  catchingUp: number;
  closedTooSlow: number;
  closedBehindRetention: number;
  gapsReported: number;
}

export interface FeedDeps {
  store: DeliveryStore;
  fanout: Fanout;
  cursors: CursorCodec;
  limits: FeedLimits;
  stats: FeedStats;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

export interface Subscription {
  topics: readonly string[];
  /** null: every bucket. */
  bucketIds: readonly string[] | null;
  /** Resume right after this delivery; null: live from now. */
  cursor: string | null;
}

export interface Feed {
  /** The socket drained its send buffer (Bun's drain event). */
  drain(): void;
  /** Ends the subscription; `leaveTopics` false when the socket is already closed. */
  stop(leaveTopics: boolean): void;
}

export function startFeed(deps: FeedDeps, peer: Peer, subscription: Subscription): Feed {
  const { store, fanout, cursors, limits, stats } = deps;
  const { topics, bucketIds } = subscription;
  const cursorOf = (position: number) => cursors.format(position);
  let stopped = false;
  let live = false;

  const member: LiveMember = {
    bufferedAmount: () => peer.getBufferedAmount(),
    onLag() {
      if (stopped || !live) return;
      leaveLive();
      // Everything published so far for these buckets was queued on the topics: continue right after it.
      void catchUp(fanout.published(), "close");
    },
  };

  const joinLive = () => {
    for (const topic of topics) peer.subscribe(topic);
    fanout.join(member);
    live = true;
  };

  const leaveLive = () => {
    for (const topic of topics) peer.unsubscribe(topic);
    fanout.leave(member);
    live = false;
  };

  const drain = createDrainWaiter(
    () => stopped || peer.getBufferedAmount() <= limits.catchUpHighWaterBytes,
    limits.stallTimeoutMs,
  );

  /**
   * True once the socket's queue is under the high-water mark; false, after closing it with 4100, when it
   * drained nothing for the stall timeout.
   */
  const room = async (): Promise<boolean> => {
    if (peer.getBufferedAmount() <= limits.catchUpHighWaterBytes || (await drain.wait())) return true;
    stats.closedTooSlow++;
    peer.close(CloseCode.TOO_SLOW, "Client too slow: resume with the last cursor");
    return false;
  };

  const send = (delivery: ReplayedDelivery) => {
    const messages = webhookMessages(
      {
        id: delivery.id,
        bucketId: delivery.bucketId,
        bucketName: delivery.bucketName,
        inputId: delivery.inputId,
        inputName: delivery.inputName,
      },
      delivery,
      cursorOf(cursors.positionOf(delivery.id)),
    );
    for (const message of messages) peer.send(message);
  };

  /**
   * Sends the subscribed buckets' deliveries after `fromId` at the socket's pace, then goes live. `onGap` says
   * what to do when retention deleted some of them: tell the client and continue with what is kept (a
   * requested start), or close (a lagging client, which resumes with its last cursor and is told then).
   * `notice` is a gap to report before the first delivery whatever the floor (an unknown cursor).
   */
  async function catchUp(
    fromId: number,
    onGap: "notify" | "close",
    requested: string | null = null,
    notice: string | null = null,
  ) {
    stats.catchingUp++;
    let position = fromId;
    let pendingNotice = notice;
    try {
      while (!stopped) {
        // Never read ahead, send, or rejoin the live topics while the socket holds more than the high-water
        // mark: a huge webhook still queued must drain first, or the next publish could pass Bun's limit.
        if (!(await room()) || stopped) return;
        const target = fanout.published();
        const page = await store.readDeliveries({
          bucketIds,
          afterPosition: position,
          throughPosition: target,
          maxRows: CATCH_UP_PAGE_ROWS,
          maxBytes: CATCH_UP_PAGE_BYTES,
        });
        if (stopped) return;
        // The page and the floor come from one snapshot: retention took deliveries this client never got.
        if (pendingNotice === null && page.prunedThrough > position) {
          if (onGap === "close") {
            stats.closedBehindRetention++;
            peer.close(
              CloseCode.BEHIND_RETENTION,
              "Fell behind the relay's retention: resume with the last cursor",
            );
            return;
          }
          pendingNotice = "deliveries before resumed_from are no longer retained";
        }
        if (pendingNotice !== null) {
          const first = page.deliveries[0];
          stats.gapsReported++;
          peer.send(
            gapMessage(
              requested ?? cursorOf(position),
              cursorOf(first === undefined ? target + 1 : cursors.positionOf(first.id)),
              pendingNotice,
            ),
          );
          pendingNotice = null;
          requested = null;
        }
        if (page.deliveries.length === 0) {
          // Nothing of these buckets up to `target`. If nothing was published since the read, joining now,
          // in this synchronous step, means the next delivery arrives live: nothing lost, nothing repeated.
          position = Math.max(position, target);
          if (fanout.published() === target) {
            joinLive();
            if (onGap === "notify") peer.send(LIVE);
            return;
          }
          continue;
        }
        for (const delivery of page.deliveries) {
          if (!(await room()) || stopped) return;
          send(delivery);
          position = cursors.positionOf(delivery.id);
        }
      }
    } catch (error) {
      if (stopped) return;
      if (error instanceof StoreUnavailableError) {
        // The client resumes with its last cursor, here or on another instance, once the store is back.
        peer.close(CloseCode.TRY_AGAIN_LATER, "Storage temporarily unavailable: resume with the last cursor");
        return;
      }
      deps.log("error", `relay catch-up failed: ${String(error)}`);
      peer.close(CloseCode.INTERNAL_ERROR, "Internal server error");
    } finally {
      stats.catchingUp--;
    }
  }

  /** Waits, bounded, until this instance has published up to `position` (see `cursorAheadWaitMs`). */
  const published = async (position: number) => {
    const deadline = Date.now() + (limits.cursorAheadWaitMs ?? 0);
    while (fanout.published() < position && !stopped && Date.now() < deadline) await Bun.sleep(10);
  };

  const begin = async () => {
    if (subscription.cursor === null) return joinLive();
    const parsed = cursors.parse(subscription.cursor);
    if (parsed.kind === "valid") {
      await published(parsed.position);
      if (stopped) return;
      // Still ahead (a database restored from a backup): continue from the newest delivery.
      return void catchUp(Math.min(parsed.position, fanout.published()), "notify", subscription.cursor);
    }
    void catchUp(
      0,
      "notify",
      subscription.cursor,
      "cursor unknown to this relay (from another server or a reset database)",
    );
  };
  void begin();

  return {
    drain() {
      drain.drained();
    },
    stop(leaveTopics) {
      if (stopped) return;
      stopped = true;
      if (live && leaveTopics) leaveLive();
      else fanout.leave(member);
      live = false;
      drain.drained();
    },
  };
}
