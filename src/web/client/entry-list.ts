/**
 * The entries the page holds, oldest first, each with a stable id: live entries get increasing ids, older
 * history prepended gets decreasing ones, so ids stay sorted and an id finds its row by binary search.
 * Bounded: past `max` the oldest are dropped and counted. Pure (no DOM).
 */
import type { LogEntry } from "../../logs/entry.ts";
import { dedupeKey } from "./query.ts";

export interface ListedEntry {
  id: number;
  entry: LogEntry;
}

export interface EntryList {
  readonly items: readonly ListedEntry[];
  readonly length: number;
  /** Entries dropped from the front to stay within the bound since the last `clear`. */
  readonly droppedOldest: number;
  append(entries: readonly LogEntry[]): void;
  /**
   * Older entries (oldest first) before the current first one, skipping any already held (same timestamp,
   * message, hook id and logger). Returns how many were added.
   */
  prependOlder(entries: readonly LogEntry[]): number;
  /** Index of the entry with this id, or -1. */
  indexOfId(id: number): number;
  /** Room left before the bound: older pages are refused past it rather than pushing out newer entries. */
  room(): number;
  clear(): void;
}

export function createEntryList(max: number): EntryList {
  let items: ListedEntry[] = [];
  let nextId = 1;
  let prevId = 0;
  let droppedOldest = 0;

  const trim = () => {
    if (items.length <= max) return;
    // One splice per batch (a frame's worth of entries), not per entry: a move of `max` pointers.
    const excess = items.length - max;
    items.splice(0, excess);
    droppedOldest += excess;
  };

  return {
    get items() {
      return items;
    },
    get length() {
      return items.length;
    },
    get droppedOldest() {
      return droppedOldest;
    },
    append(entries) {
      for (const entry of entries) items.push({ id: nextId++, entry });
      trim();
    },
    prependOlder(entries) {
      if (entries.length === 0) return 0;
      // Only the held entries up to the newest incoming timestamp can repeat one of them.
      let newest = Number.NEGATIVE_INFINITY;
      for (const entry of entries) newest = Math.max(newest, Date.parse(entry.timestamp) || 0);
      const held = new Set<string>();
      for (const item of items) {
        if ((Date.parse(item.entry.timestamp) || 0) > newest) break;
        held.add(dedupeKey(item.entry));
      }
      const fresh = entries
        .filter((entry) => !held.has(dedupeKey(entry)))
        .slice(-Math.max(0, max - items.length));
      const added: ListedEntry[] = new Array(fresh.length);
      for (let i = fresh.length - 1; i >= 0; i--) added[i] = { id: prevId--, entry: fresh[i] as LogEntry };
      items = added.concat(items);
      return fresh.length;
    },
    indexOfId(id) {
      let lo = 0;
      let hi = items.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const at = (items[mid] as ListedEntry).id;
        if (at === id) return mid;
        if (at < id) lo = mid + 1;
        else hi = mid - 1;
      }
      return -1;
    },
    room: () => Math.max(0, max - items.length),
    clear() {
      items = [];
      droppedOldest = 0;
    },
  };
}
