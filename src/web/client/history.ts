/**
 * Older entries from `GET /logs/api/entries` (newest first, paged by `next_cursor`), prepended to the list
 * without repeating what the stream's backfill already showed.
 */
import type { LogEntry } from "../../logs/entry.ts";
import { type Api, isRecord } from "./api.ts";
import type { EntryList } from "./entry-list.ts";
import { historyUrl, type PageQuery } from "./query.ts";

export interface HistoryPage {
  entries: LogEntry[];
  next_cursor: string | null;
  complete: boolean;
  took_ms: number;
}

function isEntry(value: unknown): value is LogEntry {
  return (
    isRecord(value) &&
    typeof value.timestamp === "string" &&
    typeof value.level === "string" &&
    typeof value.message === "string"
  );
}

export function isHistoryPage(value: unknown): value is HistoryPage {
  return (
    isRecord(value) &&
    Array.isArray(value.entries) &&
    value.entries.every(isEntry) &&
    (value.next_cursor === null || typeof value.next_cursor === "string")
  );
}

/** One click shows something: pages that held only entries already shown are skipped, up to this many. */
const MAX_PAGES_PER_LOAD = 5;
/** An incomplete page is asked for again this many times before it is shown as it is. */
const INCOMPLETE_RETRIES = 3;
const INCOMPLETE_RETRY_MS = 300;

export interface HistoryState {
  loading: boolean;
  /** No older entries for this query. */
  exhausted: boolean;
  /** Why history cannot be loaded (no API on this server, forbidden, list full); null when it can. */
  unavailable: string | null;
  /** The last attempt failed in a way worth retrying (network, server error). */
  error: string | null;
  /** The last page said the search did not cover everything. */
  partial: boolean;
  lastTookMs: number | null;
  /** Entries added by the last load. */
  lastAdded: number;
}

export interface HistoryPager {
  readonly state: HistoryState;
  loadOlder(): Promise<void>;
  reset(query: PageQuery): void;
}

export interface HistoryPagerOptions {
  api: Api;
  list: EntryList;
  query: PageQuery;
  /** Resolves when the stream's backfill is in (or has taken too long), so the two meet cleanly. */
  backfillDone(): Promise<void>;
  /** Wraps the list change so the rows in view keep their place on screen. */
  keepAnchor(change: () => void): void;
  onChange(state: HistoryState): void;
}

/** Before any load: nothing loaded, nothing known to be missing. */
export function freshState(): HistoryState {
  return {
    loading: false,
    exhausted: false,
    unavailable: null,
    error: null,
    partial: false,
    lastTookMs: null,
    lastAdded: 0,
  };
}

export function createHistoryPager(options: HistoryPagerOptions): HistoryPager {
  let query = options.query;
  let state = freshState();
  let cursor: string | null = null;
  let before: string | null = null;
  /** Bumped by `reset`, so the answer to a request for the old query is dropped. */
  let generation = 0;

  const changed = () => options.onChange({ ...state });

  return {
    get state() {
      return { ...state };
    },
    reset(next) {
      query = next;
      state = freshState();
      cursor = null;
      before = null;
      generation++;
      changed();
    },
    async loadOlder() {
      if (state.loading || state.exhausted || state.unavailable !== null) return;
      if (options.list.room() === 0) {
        state.unavailable = "the view holds as many entries as it can; narrow the filters or export";
        changed();
        return;
      }
      const mine = generation;
      state.loading = true;
      state.error = null;
      changed();
      await options.backfillDone();
      let added = 0;
      for (let pages = 0; pages < MAX_PAGES_PER_LOAD && added === 0 && !state.exhausted; pages++) {
        if (cursor === null && before === null) before = options.list.items[0]?.entry.timestamp ?? null;
        const url = historyUrl(query, { cursor, before });
        let result = await options.api.get(url, isHistoryPage);
        // `complete: false`: the server ran out of its time budget (e.g. still indexing); asking again helps.
        for (let retry = 0; retry < INCOMPLETE_RETRIES && result.ok && !result.data.complete; retry++) {
          await new Promise((resolve) => setTimeout(resolve, INCOMPLETE_RETRY_MS));
          if (mine !== generation) return;
          result = await options.api.get(url, isHistoryPage);
        }
        if (mine !== generation) return;
        if (!result.ok) {
          if (result.status === 404) state.unavailable = "history is not available on this server";
          else if (result.status === 403 || result.status === 401) state.unavailable = result.message;
          else state.error = `history failed: ${result.message}`;
          break;
        }
        const page = result.data;
        const older = page.entries.slice().reverse();
        options.keepAnchor(() => {
          added += options.list.prependOlder(older);
        });
        cursor = page.next_cursor;
        state.exhausted = cursor === null;
        state.partial = page.complete === false;
        state.lastTookMs = typeof page.took_ms === "number" ? page.took_ms : null;
      }
      state.loading = false;
      state.lastAdded = added;
      changed();
    },
  };
}
