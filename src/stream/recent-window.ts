/**
 * The newest items of a positioned stream, kept in memory up to a byte limit: what a live fan-out published
 * last, so that a reader that fell a little behind is served from here instead of from storage. The window
 * holds every item after `from()`, in position order, with nothing missing: an item is only ever dropped from
 * the old end, and `from()` then moves up to it. A read is answered here only when the window covers all of
 * it (see `covers`); any other read belongs to the storage behind.
 */

export interface RecentWindow<T> {
  /**
   * Adds the next item. Positions increase from call to call; one that does not (no source here produces
   * it) empties the window, which then starts after it, rather than hold a gap it would not know of.
   */
  add(position: number, item: T): void;
  /** Everything after this position is held (up to `newest()`). */
  from(): number;
  /** The position of the newest item added, or `from()` when none is held. */
  newest(): number;
  /** True when every item with a position in (after, through] is held here. */
  covers(after: number, through: number): boolean;
  /**
   * The held items with a position in (after, through], oldest first, while `take` returns true; stops at
   * the first item it refuses. Call only when `covers(after, through)`.
   */
  scan(after: number, through: number, take: (item: T, position: number) => boolean): void;
  /** Items and their bytes (as `bytesOf` counts them) held now. */
  size(): { items: number; bytes: number };
}

export interface RecentWindowOptions<T> {
  /** Items up to this position are not held (they came before the window started). */
  startPosition: number;
  /** The window keeps the newest items whose bytes add up to at most this; older ones are dropped. */
  maxBytes: number;
  /** What one item counts towards `maxBytes`. */
  bytesOf: (item: T) => number;
}

/** Dropped slots at the old end are reclaimed once there are this many and they are most of the arrays. */
const COMPACT_AFTER = 1024;

export function createRecentWindow<T>(options: RecentWindowOptions<T>): RecentWindow<T> {
  const { maxBytes, bytesOf } = options;
  let positions: number[] = [];
  let items: T[] = [];
  let sizes: number[] = [];
  /** Index of the oldest held item in the arrays. */
  let head = 0;
  let bytes = 0;
  let from = options.startPosition;

  const dropOldest = () => {
    from = positions[head] as number;
    bytes -= sizes[head] as number;
    items[head] = undefined as T;
    head++;
    if (head >= COMPACT_AFTER && head * 2 >= positions.length) {
      positions = positions.slice(head);
      items = items.slice(head);
      sizes = sizes.slice(head);
      head = 0;
    }
  };

  /** Index of the first held item with a position greater than `after`. */
  const firstAfter = (after: number) => {
    let low = head;
    let high = positions.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((positions[middle] as number) <= after) low = middle + 1;
      else high = middle;
    }
    return low;
  };

  const newest = () => (positions.length > head ? (positions[positions.length - 1] as number) : from);

  return {
    add(position, item) {
      if (position <= newest()) {
        from = Math.max(newest(), position);
        positions = [];
        items = [];
        sizes = [];
        head = 0;
        bytes = 0;
        return;
      }
      const size = bytesOf(item);
      positions.push(position);
      items.push(item);
      sizes.push(size);
      bytes += size;
      // An item larger than the whole window is dropped too: the window then starts after it.
      while (bytes > maxBytes && head < positions.length) dropOldest();
    },
    from: () => from,
    newest,
    covers: (after, through) => after >= from && through <= newest(),
    scan(after, through, take) {
      for (let i = firstAfter(after); i < positions.length; i++) {
        const position = positions[i] as number;
        if (position > through || !take(items[i] as T, position)) return;
      }
    },
    size: () => ({ items: positions.length - head, bytes }),
  };
}
