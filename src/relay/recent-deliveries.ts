/**
 * The deliveries the live fan-out published last, in memory, for sockets that catch up from a recent
 * position: one the fan-out took off its topics for lagging, or a client resuming right after a reconnect.
 * Without it each such socket read its pages from the store. In cluster mode that is a Redis script per
 * socket and page that copies every body through Lua: when a burst made many of 150 sockets lag at once,
 * those reads took Redis and the instance past what the live stream had cost, and the sockets fell further
 * behind (docs/benchmarks.md, "Cluster relay").
 *
 * A page is answered here only when the window holds everything the read covers (stream/recent-window.ts)
 * and the relay knows the bucket and input of every delivery on it now, whose names the page then carries,
 * as a store page does; otherwise the store answers, so a bucket deleted or created since (and not yet known
 * to this process) is decided by the store as before.
 *
 * Retention is the store's, read alone (`retentionFloor`, one small query) for each page: the page is the
 * store's own. Retention deletes a prefix of the store order and raises the floor of each bucket it took
 * from to the newest it took, so no delivery of these buckets lies between their highest floor and the
 * deletions' end: what the store still holds of them in the range is exactly what is above that floor.
 */
import { createRecentWindow, type RecentWindow } from "../stream/recent-window.ts";
import type { DeliveryPage, DeliveryRead, DeliveryStore, ReplayedDelivery } from "./store.ts";

/**
 * What the window holds at most: bodies plus ENTRY_BYTES each. About a second of the relay bench's 7 KB
 * deliveries at 1,000 a second, and eight times the 1 MiB a socket may have queued when it is taken off
 * the live topics, so a socket that lags is read from here unless it stays behind for a while.
 */
export const RECENT_DELIVERIES_BYTES = 8 * 1024 * 1024;
/** What a delivery is counted besides its body: headers (about 1 KB from GitHub), names, the object. */
const ENTRY_BYTES = 2048;

export interface RecentDeliveries {
  /** The live source's next delivery, in store order (delivery-source.ts), before it is published. */
  add(delivery: ReplayedDelivery, position: number): void;
  /** Whether the deliveries in memory span this read (it may still need the store: see `read`). */
  covers(read: DeliveryRead): boolean;
  /**
   * The page the store would give for this read, given the store's `retentionFloor` of its buckets, or null
   * when it must come from the store.
   */
  read(read: DeliveryRead, retentionFloor: number): DeliveryPage | null;
  /** A read went to the store without asking `read` (it was not covered). */
  missed(): void;
  stats(): RecentStats;
}

export interface RecentStats {
  /** Deliveries held now, and what they count towards RECENT_DELIVERIES_BYTES. */
  held: number;
  heldBytes: number;
  /** Catch-up pages answered from memory, and pages that went to the store. */
  pagesFromMemory: number;
  pagesFromStore: number;
}

export interface RecentDeliveriesOptions {
  /** The newest position stored before the live source started: the window starts after it. */
  startPosition: number;
  /** The bucket's and input's names now, or null when the relay does not know them (outputs/directory.ts). */
  namesOf: (bucketId: string, inputId: string) => { bucketName: string; inputName: string } | null;
  maxBytes?: number;
}

export function createRecentDeliveries(options: RecentDeliveriesOptions): RecentDeliveries {
  const window: RecentWindow<ReplayedDelivery> = createRecentWindow({
    startPosition: options.startPosition,
    maxBytes: options.maxBytes ?? RECENT_DELIVERIES_BYTES,
    bytesOf: (delivery) => delivery.body.byteLength + ENTRY_BYTES,
  });
  let pagesFromMemory = 0;
  let pagesFromStore = 0;

  const page = (read: DeliveryRead, floor: number): DeliveryPage | null => {
    if (!window.covers(read.afterPosition, read.throughPosition)) return null;
    const after = Math.max(read.afterPosition, floor);
    const wanted = read.bucketIds === null ? null : new Set(read.bucketIds);
    const deliveries: ReplayedDelivery[] = [];
    let bytes = 0;
    let unknown = false;
    window.scan(after, read.throughPosition, (delivery) => {
      if (wanted !== null && !wanted.has(delivery.bucketId)) return true;
      const names = options.namesOf(delivery.bucketId, delivery.inputId);
      if (names === null) {
        unknown = true;
        return false;
      }
      const renamed = names.bucketName !== delivery.bucketName || names.inputName !== delivery.inputName;
      deliveries.push(renamed ? { ...delivery, ...names } : delivery);
      bytes += delivery.body.byteLength;
      return deliveries.length < read.maxRows && bytes < read.maxBytes;
    });
    return unknown ? null : { deliveries, prunedThrough: floor };
  };

  return {
    add: (delivery, position) => window.add(position, delivery),
    covers: (read) => window.covers(read.afterPosition, read.throughPosition),
    missed: () => void pagesFromStore++,
    read(read, floor) {
      const answer = page(read, floor);
      if (answer === null) pagesFromStore++;
      else pagesFromMemory++;
      return answer;
    },
    stats: () => {
      const { items, bytes } = window.size();
      return { held: items, heldBytes: bytes, pagesFromMemory, pagesFromStore };
    },
  };
}

/** The store as a catching-up socket reads it: recent pages from memory, the rest from the store. */
export function recentFirst(store: DeliveryStore, recent: RecentDeliveries): DeliveryStore {
  // Every other member is the store's own (see annotatingStore).
  return {
    ...store,
    async readDeliveries(read) {
      if (!recent.covers(read)) {
        recent.missed();
        return store.readDeliveries(read);
      }
      // The window may have moved on while the floor was read: `read` checks again.
      const page = recent.read(read, await store.retentionFloor(read.bucketIds));
      return page ?? store.readDeliveries(read);
    },
  };
}
