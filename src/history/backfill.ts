/**
 * `tail=N` and `since=T` on `/logs/ws` reach back through the journal, which holds only what hookstream read
 * since it first started: a first start on a directory that already has logs has an empty journal. This
 * supplies the part the journal does not hold, from the history index, so the stream and the page answer
 * like the history API does.
 *
 * The seam between the two: an entry belongs to the files' part when the follower had already read past it
 * when the backfill began (its offset is below the follower's position in its file) and, if the journal holds
 * anything, it is older than the journal's oldest entry. Entries the follower reads later are journaled and
 * reach the client through the journal: nothing twice, nothing missed where the two meet.
 */
import { type LogEntry, RELAY_LOGGER_NAME } from "../logs/entry.ts";
import type { Journal } from "../logs/journal.ts";
import { readJournal } from "../logs/journal-read.ts";
import type { SavedPosition } from "../logs/positions.ts";
import type { OlderThanJournal } from "../logs/socket.ts";
import { TWIN_MAX_HELD } from "../logs/twins.ts";
import type { HistoryIndex, IndexedEntry } from "./chunk-index.ts";
import { isoMicros } from "./flow.ts";
import { historyPages } from "./pages.ts";

/**
 * The journal's first entries are not in time order across files (the follower reads files side by side,
 * and the pairing window holds up to TWIN_MAX_HELD entries), so the seam is the oldest time among this many
 * of them, not the first entry's: a file's line older than it was never journaled.
 */
const OLDEST_AMONG_FIRST = TWIN_MAX_HELD;

/** Entries one backfill takes from the files at most (the most `tail` asks for); they are held until sent. */
export const MAX_FILE_BACKFILL = 10_000;

export interface FileBackfillDeps {
  index: HistoryIndex;
  journal: Journal;
  /** The follower's position in each file (what it has read and handed on). */
  positions: () => readonly SavedPosition[];
  /** How long the index may take to catch up before the files' part is answered with what it has. */
  budgetMs: number;
}

/**
 * The oldest timestamp (µs) among the journal's first entries from the log files (null when there are none)
 * and, with `count`, how many of its lines from `fromSeq` match.
 */
async function journalExtent(
  journal: Journal,
  fromSeq: number,
  endSeq: number,
  matches: (line: string) => boolean,
  count: boolean,
): Promise<{ oldestMicros: number | null; matching: number }> {
  let oldestMicros: number | null = null;
  let seen = 0;
  let matching = 0;
  if (endSeq <= journal.startSeq()) return { oldestMicros, matching };
  for await (const batch of readJournal(journal, journal.startSeq())) {
    for (const { seq, line } of batch) {
      if (seq >= endSeq || (!count && seen >= OLDEST_AMONG_FIRST)) return { oldestMicros, matching };
      if (line === null) continue; // entries that cannot be read: neither a time nor a match
      if (seen < OLDEST_AMONG_FIRST) {
        const entry = JSON.parse(line) as { timestamp?: string; logger_name?: string };
        // The relay's entries are in no file, and carry the time they were received, not a file's time.
        if (entry.logger_name !== RELAY_LOGGER_NAME) {
          seen++;
          const at = isoMicros(entry.timestamp ?? "");
          if (at !== null && (oldestMicros === null || at < oldestMicros)) oldestMicros = at;
        }
      }
      if (count && seq >= fromSeq && matches(line)) matching++;
    }
  }
  return { oldestMicros, matching };
}

/** The stream form of a history entry: the entry as the follower would have streamed it, no history id. */
function streamed(item: IndexedEntry): string {
  return JSON.stringify({ ...item.entry, cursor: undefined } satisfies LogEntry);
}

export function createFileBackfill(deps: FileBackfillDeps): OlderThanJournal {
  return async ({ filters, start, fromSeq, matches }) => {
    // One synchronous snapshot: what the follower has read and what the journal holds belong together.
    const endSeq = deps.journal.endSeq();
    const readTo = new Map(deps.positions().map((p) => [p.identity, p.offset]));
    const { oldestMicros, matching } = await journalExtent(
      deps.journal,
      fromSeq,
      endSeq,
      matches,
      start.kind === "tail",
    );
    const wanted =
      start.kind === "tail" ? Math.min(start.count - matching, MAX_FILE_BACKFILL) : MAX_FILE_BACKFILL;
    if (wanted <= 0) return [];
    const beforeJournal = (item: IndexedEntry) => {
      const position = readTo.get(item.file);
      if (position === undefined || item.offset >= position) return false;
      if (oldestMicros === null) return true;
      const at = isoMicros(item.entry.timestamp);
      return at !== null && at < oldestMicros;
    };
    const kept: IndexedEntry[] = [];
    const query = {
      filters,
      search: null,
      startMs: start.kind === "since" ? start.ms : null,
      endMs: oldestMicros === null ? null : Math.floor(oldestMicros / 1000),
      // Entries of the journal's part and lines not read yet are passed over: walk far enough to fill `wanted`.
      limit: wanted + matching + MAX_FILE_BACKFILL,
      before: null,
    };
    for await (const page of historyPages(deps.index, query, Date.now() + deps.budgetMs)) {
      for (const item of page.entries) if (beforeJournal(item) && kept.length < wanted) kept.push(item);
      if (kept.length >= wanted) break;
    }
    return kept.reverse().map(streamed);
  };
}
