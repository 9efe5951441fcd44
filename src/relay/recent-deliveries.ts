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
 *
 * The bodies are copied into one buffer of `maxBytes` (`RELAY_RECENT_BYTES`), written round, and copied out
 * for a page. Held as the deliveries' own buffers, each body outlived the young generation and waited for a full
 * collection: the relay bench's instances peaked at 150–170 MB instead of 102–128 MB with 8 MiB held, and
 * at 129–140 MB with 2 MiB (with the bodies not held at all, 111–131 MB).
 */
import { createRecentWindow, type RecentWindow } from "../stream/recent-window.ts";
import type { DeliveryPage, DeliveryRead, DeliveryStore, ReplayedDelivery } from "./store.ts";

/**
 * What a delivery is counted besides its body: headers (about 1 KB from GitHub), names, the object. It also
 * bounds how many deliveries are held when bodies are small.
 */
const ENTRY_BYTES = 2048;

/** A delivery in the window: the body in the shared buffer, the rest as it was published. */
interface Held {
  delivery: ReplayedDelivery;
  offset: number;
  length: number;
  /** The buffer's bytes it took (its body, and the end of the buffer it skipped to start at 0), counted. */
  bytes: number;
}

const NO_BODY = new Uint8Array(0);

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
  /** Deliveries held now, and what they count towards `maxBytes`. */
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
  /** The bodies' buffer, allocated once, and what the deliveries held count at most: bodies plus 2 KiB each. */
  maxBytes: number;
}

export function createRecentDeliveries(options: RecentDeliveriesOptions): RecentDeliveries {
  const { maxBytes } = options;
  // The held bodies lie one after the other, round the buffer, ending at `writeAt`. Each counts at least the
  // bytes it took, and the window holds at most `maxBytes` of counts, so no held body is ever overwritten:
  // an add writes over the oldest ones only as the window drops them, in the same step.
  const bodies = new Uint8Array(maxBytes);
  let writeAt = 0;
  const window: RecentWindow<Held> = createRecentWindow({
    startPosition: options.startPosition,
    maxBytes,
    bytesOf: (held) => held.bytes,
  });

  const hold = (delivery: ReplayedDelivery): Held => {
    const length = delivery.body.byteLength;
    const stripped = { ...delivery, body: NO_BODY };
    // Larger than the buffer: counted so, the window drops it at once (and everything before it).
    if (length + ENTRY_BYTES > maxBytes)
      return { delivery: stripped, offset: 0, length: 0, bytes: maxBytes + 1 };
    let skipped = 0;
    if (writeAt + length > maxBytes) {
      skipped = maxBytes - writeAt;
      writeAt = 0;
    }
    const offset = writeAt;
    bodies.set(delivery.body, offset);
    writeAt += length;
    return { delivery: stripped, offset, length, bytes: skipped + length + ENTRY_BYTES };
  };
  let pagesFromMemory = 0;
  let pagesFromStore = 0;

  // Turned off (0), every read goes to the store, even one with nothing to read.
  const covers = (read: DeliveryRead) =>
    maxBytes > 0 && window.covers(read.afterPosition, read.throughPosition);

  const page = (read: DeliveryRead, floor: number): DeliveryPage | null => {
    if (!covers(read)) return null;
    const after = Math.max(read.afterPosition, floor);
    const wanted = read.bucketIds === null ? null : new Set(read.bucketIds);
    const deliveries: ReplayedDelivery[] = [];
    let bytes = 0;
    let unknown = false;
    window.scan(after, read.throughPosition, ({ delivery, offset, length }) => {
      if (wanted !== null && !wanted.has(delivery.bucketId)) return true;
      const names = options.namesOf(delivery.bucketId, delivery.inputId);
      if (names === null) {
        unknown = true;
        return false;
      }
      // A copy: the buffer moves on while the page is on its way.
      deliveries.push({ ...delivery, ...names, body: bodies.slice(offset, offset + length) });
      bytes += length;
      return deliveries.length < read.maxRows && bytes < read.maxBytes;
    });
    return unknown ? null : { deliveries, prunedThrough: floor };
  };

  return {
    add: (delivery, position) => window.add(position, hold(delivery)),
    covers,
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
      const floor = await store.retentionFloor(read.bucketIds);
      const page = recent.read(read, floor);
      return page ?? store.readDeliveries(read);
    },
  };
}
