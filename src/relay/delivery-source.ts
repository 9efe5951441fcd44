/**
 * Where the relay's live deliveries come from: the one interface the relay follows in every mode. Embedded,
 * the stream is this process's own commits, handed on synchronously right after each one; in cluster mode it
 * is the shared Redis stream every instance appends to (src/cluster/delivery-stream.ts), which brings this
 * instance's commits back too. Either way `publish` sees every delivery once, in store order, so the
 * fan-out's `published()` always means "everything up to here went to the live topics".
 */
import type { CursorCodec } from "./cursor.ts";
import type { ReplayedDelivery } from "./store.ts";

/** A running follow of the source. */
export interface DeliveryFollow {
  /**
   * Stops publishing at once; resolves once the read under way (if any) returned. Closing the store cuts
   * such a read short.
   */
  stop(): Promise<void>;
}

export interface DeliverySource {
  /** Publishes every delivery after `fromPosition`, in store order, with its position, until stopped. */
  follow(
    fromPosition: number,
    cursors: CursorCodec,
    publish: (delivery: ReplayedDelivery, position: number) => void,
  ): DeliveryFollow;
  /** This process committed a delivery (called in store order, right after the commit). */
  committed(delivery: ReplayedDelivery, position: number): void;
}

/** Embedded mode: the live stream is this process's commits, published as they are made. */
export function createCommitSource(): DeliverySource {
  const followers = new Set<(delivery: ReplayedDelivery, position: number) => void>();
  return {
    // Nothing but this process appends, so everything after `fromPosition` is a commit still to come.
    follow(_fromPosition, _cursors, publish) {
      followers.add(publish);
      return { stop: async () => void followers.delete(publish) };
    },
    committed(delivery, position) {
      for (const follower of followers) follower(delivery, position);
    },
  };
}
