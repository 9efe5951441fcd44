/**
 * Where each row of the windowed list sits: rows have one fixed height, an expanded row is taller by the
 * difference its measured height makes, added to the offsets of every row below it.
 */
import type { EntryList, ListedEntry } from "./entry-list.ts";

/** An expanded row's index and how much taller than a plain row it is. */
export interface Extra {
  index: number;
  extra: number;
}

/** The top of row `index`: the plain rows above it plus the extras of expanded rows above it (sorted by index). */
export function offsetOf(extras: readonly Extra[], rowHeight: number, index: number): number {
  let acc = 0;
  for (const e of extras) {
    if (e.index >= index) break;
    acc += e.extra;
  }
  return index * rowHeight + acc;
}

/** The row under `y`, clamped to the list's rows. */
export function indexAt(extras: readonly Extra[], rowHeight: number, length: number, y: number): number {
  let acc = 0;
  for (const e of extras) {
    const top = e.index * rowHeight + acc;
    if (y < top) break;
    if (y < top + rowHeight + e.extra) return e.index;
    acc += e.extra;
  }
  return Math.max(0, Math.min(length - 1, Math.floor((y - acc) / rowHeight)));
}

/** The keyboard's next row from the focused row (`current`, -1 when focus is not on a row), or null for other keys. */
export function nextRow(
  key: string,
  at: { current: number; firstVisible: number; last: number; page: () => number },
): number | null {
  const from = at.current === -1 ? at.firstVisible - 1 : at.current;
  switch (key) {
    case "ArrowDown":
      return from + 1;
    case "ArrowUp":
      return at.current === -1 ? at.firstVisible : from - 1;
    case "PageDown":
      return from + at.page();
    case "PageUp":
      return Math.max(0, from - at.page());
    case "Home":
      return 0;
    case "End":
      return at.last;
    default:
      return null;
  }
}

export interface RowGeometry {
  /** Ids of the expanded rows. */
  readonly expanded: Set<number>;
  /** Measured heights of expanded rows. */
  readonly heights: Map<number, number>;
  /** Recomputes the offsets from the list as it is now; expanded rows no longer in it are forgotten. */
  layout(): void;
  offsetOf(index: number): number;
  indexAt(y: number): number;
  /** The rows to have in the DOM for a viewport at `top`: those in view and `overscan` more each side. */
  window(top: number, height: number, overscan: number): [first: number, last: number];
  /** The height of row `index`: measured when expanded, else the fixed height. */
  heightAt(index: number): number;
  collapse(id: number): void;
  clear(): void;
  /** The whole list's height as of the last `layout`. */
  readonly total: number;
}

export function createRowGeometry(list: EntryList, rowHeight: number): RowGeometry {
  const expanded = new Set<number>();
  const heights = new Map<number, number>();
  let extras: Extra[] = [];
  let total = 0;
  return {
    expanded,
    heights,
    layout() {
      extras = [];
      let sum = 0;
      for (const id of expanded) {
        const index = list.indexOfId(id);
        if (index === -1) {
          expanded.delete(id);
          heights.delete(id);
          continue;
        }
        const extra = Math.max(0, (heights.get(id) ?? rowHeight) - rowHeight);
        extras.push({ index, extra });
        sum += extra;
      }
      extras.sort((a, b) => a.index - b.index);
      total = list.length * rowHeight + sum;
    },
    offsetOf: (index) => offsetOf(extras, rowHeight, index),
    indexAt: (y) => indexAt(extras, rowHeight, list.length, y),
    window(top, height, overscan) {
      if (list.length === 0) return [0, -1];
      const first = Math.max(0, indexAt(extras, rowHeight, list.length, top) - overscan);
      return [
        first,
        Math.min(list.length - 1, indexAt(extras, rowHeight, list.length, top + height) + overscan),
      ];
    },
    heightAt: (index) => heights.get((list.items[index] as ListedEntry).id) ?? rowHeight,
    collapse(id) {
      expanded.delete(id);
      heights.delete(id);
    },
    clear() {
      expanded.clear();
      heights.clear();
    },
    get total() {
      return total;
    },
  };
}
