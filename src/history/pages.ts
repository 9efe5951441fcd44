/**
 * History walked page by page: a selection larger than one query (an export, an `offset` far down) is read
 * in pages of PAGE_ENTRIES, each continuing before the previous one's last entry, so memory holds one page.
 */
import type { HistoryIndex } from "./chunk-index.ts";
import { type HistoryQuery, type HistoryResult, runHistoryQuery } from "./search.ts";

/** Entries one page holds: the memory bound of a walk, and few enough queries for a 1,000,000-entry export. */
export const PAGE_ENTRIES = 1_000;

/**
 * The pages of `query`, newest first, `query.limit` entries in all, starting before `query.before`. Stops
 * early when nothing older is left, and after a page that could not be made certain by `deadline`.
 */
export async function* historyPages(
  index: HistoryIndex,
  query: HistoryQuery,
  deadline: number,
): AsyncGenerator<HistoryResult> {
  let before = query.before;
  let left = query.limit;
  while (left > 0) {
    const page = await runHistoryQuery(
      index,
      { ...query, limit: Math.min(PAGE_ENTRIES, left), before },
      deadline,
    );
    yield page;
    left -= page.entries.length;
    if (page.next === null || !page.complete || page.entries.length === 0) return;
    before = page.next;
  }
}

/** The original's way of writing a count: `"950"`, `"1.2K"`, `"3.4M"`. */
export function formatCount(count: number): string {
  if (count >= 1_000_000) return `${(count / 1_000_000).toFixed(1)}M`;
  if (count >= 1_000) return `${(count / 1_000).toFixed(1)}K`;
  return String(count);
}

/**
 * About how many records the directory holds: the index's entries, where each record the processor wrote in
 * both formats counts once (the larger of the JSON and the text count) when the index pairs them.
 */
export function recordCountEstimate(index: HistoryIndex): number {
  let json = 0;
  let text = 0;
  for (const file of index.files())
    for (const chunk of file.chunks) {
      if (file.format === "json") json += chunk.count;
      else text += chunk.count;
    }
  return index.pairTwins ? Math.max(json, text) : json + text;
}
