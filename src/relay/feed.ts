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
import {
  CATCH_UP_HIGH_WATER_BYTES,
  type CatchUpLimits,
  type CatchUpStats,
  createSubscriber,
  type PositionedSource,
  type SubscriberProtocol,
} from "../stream/subscriber.ts";
import { StoreUnavailableError } from "../transport/errors.ts";
import { CloseCode, type Peer } from "../transport/peer.ts";
import type { CursorCodec } from "./cursor.ts";
import type { Fanout, LiveMember } from "./fanout.ts";
import { gapMessage, LIVE, webhookMessages } from "./message.ts";
import type { DeliveryStore, ReplayedDelivery } from "./store.ts";

/** Deliveries read from the store per step of a catch-up. */
export const CATCH_UP_PAGE_ROWS = 256;
/**
 * Body bytes read per step (at least one delivery, however large): what a catching-up socket may have queued.
 * A socket holds its page, serialised, while it drains, so the sum grows with the sockets catching up at
 * once; past 256 of them each one's page shrinks to its share of `CATCH_UP_TOTAL_BYTES`. In a lag wave of
 * 100 sockets (bench/relay-lag-wave.ts) pages of 1 MiB peaked at 275–485 MB in embedded mode and 618–651 MB
 * in cluster mode, read from the store, and at 440–506 MB from memory; pages of 256 KiB at 241–244, 297–326
 * and 258–341 MB. Smaller pages cost Redis more script calls for the same bytes
 * (7.0–7.3 s against 4.8–5.1 s in that wave), where the recent deliveries in memory do not answer.
 */
export const CATCH_UP_PAGE_BYTES = CATCH_UP_HIGH_WATER_BYTES;

/** The limits of a relay subscription: the stream core's. */
export type FeedLimits = CatchUpLimits;
/** Counters of the relay's subscriptions, for `/health`. */
export type FeedStats = CatchUpStats;

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

const RELAY_PROTOCOL: SubscriberProtocol = {
  live: LIVE,
  gap: (requested, resumedFrom, reason) => gapMessage(requested ?? resumedFrom, resumedFrom, reason),
  pruned: "deliveries before resumed_from are no longer retained",
  behindRetention: "Fell behind the relay's retention: resume with the last cursor",
  missing: "Deliveries missing from the store: resume with the last cursor",
  unknownCursor: "cursor unknown to this relay (from another server or a reset database)",
};

/** What a relayed message names of its delivery. */
export function metaOf(delivery: ReplayedDelivery) {
  return {
    id: delivery.id,
    bucketId: delivery.bucketId,
    bucketName: delivery.bucketName,
    inputId: delivery.inputId,
    inputName: delivery.inputName,
  };
}

/** The delivery store as a positioned source: a position is a delivery's place in store order. */
export function createStoreSource(
  deps: Pick<FeedDeps, "store" | "fanout" | "cursors">,
  bucketIds: readonly string[] | null,
): PositionedSource {
  const { store, fanout, cursors } = deps;
  // One message per output of the bucket (the seed's shape), all at the delivery's position.
  const messages = (delivery: ReplayedDelivery) =>
    webhookMessages(metaOf(delivery), delivery, cursors.format(cursors.positionOf(delivery.id)));
  return {
    published: () => fanout.published(),
    cursorOf: (position) => cursors.format(position),
    positionOf(cursor) {
      const parsed = cursors.parse(cursor);
      return parsed.kind === "valid" ? parsed.position : null;
    },
    // Before the first delivery: a read from here reports what retention removed as the gap.
    origin: () => 0,
    reader: () => ({
      async next(after, through, maxBytes) {
        const page = await store.readDeliveries({
          bucketIds,
          afterPosition: after,
          throughPosition: through,
          maxRows: CATCH_UP_PAGE_ROWS,
          maxBytes: Math.min(CATCH_UP_PAGE_BYTES, maxBytes),
        });
        const items = page.deliveries.flatMap((delivery) => {
          const position = cursors.positionOf(delivery.id);
          return messages(delivery).map((payload) => ({ position, payload }));
        });
        // An empty page read everything up to `through`; otherwise the next read starts after its last item.
        return {
          items,
          readThrough: items.at(-1)?.position ?? Math.max(after, through),
          prunedThrough: page.prunedThrough,
        };
      },
      close() {},
    }),
  };
}

export function startFeed(deps: FeedDeps, peer: Peer, subscription: Subscription): Feed {
  const { fanout, limits, stats } = deps;
  const { topics } = subscription;
  let stopped = false;
  let live = false;

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

  const subscriber = createSubscriber({
    peer,
    source: createStoreSource(deps, subscription.bucketIds),
    limits,
    stats,
    protocol: RELAY_PROTOCOL,
    joinLive,
    reached: (position, timeoutMs) => fanout.reached(position, timeoutMs),
    onFailure(error) {
      if (error instanceof StoreUnavailableError) {
        // The client resumes with its last cursor, here or on another instance, once the store is back.
        peer.close(CloseCode.TRY_AGAIN_LATER, "Storage temporarily unavailable: resume with the last cursor");
        return;
      }
      deps.log("error", `relay catch-up failed: ${String(error)}`);
      peer.close(CloseCode.INTERNAL_ERROR, "Internal server error");
    },
  });

  const member: LiveMember = {
    bufferedAmount: () => peer.getBufferedAmount(),
    onLag() {
      if (stopped || !live) return;
      leaveLive();
      // Everything published so far for these buckets was queued on the topics: continue right after it.
      void subscriber.catchUp(fanout.published(), "close");
    },
  };

  void subscriber.resume(subscription.cursor);

  return {
    drain() {
      subscriber.drained();
    },
    stop(leaveTopics) {
      if (stopped) return;
      stopped = true;
      if (live && leaveTopics) leaveLive();
      else fanout.leave(member);
      live = false;
      subscriber.stop();
    },
  };
}
