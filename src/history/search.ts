/**
 * A history query: the newest `limit` entries matching the filters, search and time range, merged across all
 * files by time, older than an optional paging position. Chunks are visited newest first; a chunk is skipped
 * when its time range or Bloom filter rules it out, and the visit stops as soon as no remaining chunk can hold
 * an entry newer than the oldest kept — so a filtered query reads few chunks however large the directory is.
 * Order is (timestamp, file, offset) descending, a total order, so pages never overlap or skip.
 */
import { entryMatches, type LogFilters } from "../logs/topics.ts";
import { twinKey } from "../logs/twins.ts";
import { bloomMayContain } from "./bloom.ts";
import type { HistoryIndex, IndexedFile } from "./chunk-index.ts";
import { bloomKey, type Chunk, type IndexedEntry } from "./chunk-parse.ts";

export interface Position {
  ts: number;
  file: string;
  offset: number;
}

export interface HistoryQuery {
  filters: LogFilters;
  /** Case-insensitive substring of the message. */
  search: string | null;
  startMs: number | null;
  endMs: number | null;
  limit: number;
  /** Only entries strictly older than this (the previous page's last entry). */
  before: Position | null;
}

export interface HistoryResult {
  entries: IndexedEntry[];
  /** Where the next page starts; null when there is nothing older. */
  next: Position | null;
  /** False when the time budget ran out (or the index is capped) before the answer was certain. */
  complete: boolean;
  chunksRead: number;
  /** Entries looked at in the chunks read, matching or not. */
  examined: number;
}

/** Newest first: timestamp, then file identity, then offset, all descending. */
export function compareNewestFirst(a: Position, b: Position): number {
  if (a.ts !== b.ts) return b.ts - a.ts;
  if (a.file !== b.file) return a.file < b.file ? 1 : -1;
  return b.offset - a.offset;
}

export function encodePosition(position: Position): string {
  return Buffer.from(JSON.stringify([position.ts, position.file, position.offset])).toString("base64url");
}

export function decodePosition(cursor: string): Position | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!Array.isArray(value) || value.length !== 3) return null;
    const [ts, file, offset] = value as unknown[];
    if (typeof ts !== "number" || typeof file !== "string" || typeof offset !== "number") return null;
    return { ts, file, offset };
  } catch {
    return null;
  }
}

function chunkMayMatch(chunk: Chunk, query: HistoryQuery, bloomKeys: string[]): boolean {
  if (chunk.count === 0) return false;
  if (query.startMs !== null && chunk.maxTs < query.startMs) return false;
  if (query.endMs !== null && chunk.minTs > query.endMs) return false;
  if (query.before !== null && chunk.minTs > query.before.ts) return false;
  for (const key of bloomKeys) if (!bloomMayContain(chunk.bloom, key)) return false;
  return true;
}

function entryQualifies(item: IndexedEntry, query: HistoryQuery, needle: string | null): boolean {
  if (query.startMs !== null && item.ts < query.startMs) return false;
  if (query.endMs !== null && item.ts > query.endMs) return false;
  if (query.before !== null && compareNewestFirst(item, query.before) <= 0) return false;
  if (!entryMatches(item.entry, query.filters)) return false;
  return needle === null || item.entry.message.toLowerCase().includes(needle);
}

/**
 * The processor writes most records twice, a text line and a JSON line. History answers such a record by its
 * JSON copy, which carries every field the text copy has (the same prefix is in both messages) and more, so a
 * text entry that qualifies is left out when a JSON entry with the same pairing key exists. Per query, the
 * keys of each JSON chunk covering a text entry's time are read once.
 */
function createTwinLookup(index: HistoryIndex): (item: IndexedEntry) => Promise<boolean> {
  const keysByChunk = new Map<Chunk, Set<string>>();
  return async (item) => {
    const key = twinKey(item.entry);
    if (key === null) return false;
    for (const file of index.files()) {
      if (file.format !== "json") continue;
      for (const chunk of file.chunks) {
        if (chunk.count === 0 || item.ts < chunk.minTs || item.ts > chunk.maxTs) continue;
        let keys = keysByChunk.get(chunk);
        if (keys === undefined) {
          keys = new Set();
          for (const entry of await index.load(file, chunk)) {
            const twin = twinKey(entry.entry);
            if (twin !== null) keys.add(twin);
          }
          keysByChunk.set(chunk, keys);
        }
        if (keys.has(key)) return true;
      }
    }
    return false;
  };
}

export async function runHistoryQuery(
  index: HistoryIndex,
  query: HistoryQuery,
  deadline: number,
): Promise<HistoryResult> {
  const indexed = await index.refresh(deadline);
  const bloomKeys = Object.entries(query.filters).map(([field, value]) => bloomKey(field, value));
  const needle = query.search === null ? null : query.search.toLowerCase();
  // A raw JSON line (masked as the entries are) holds the filter values verbatim — for printable ASCII (writers
  // escape quotes, backslashes and, in Python's default, every non-ASCII character; the processor's prefix
  // escapes brackets) and except `level`, which defaults when the record has none (COMPLETED for summaries,
  // INFO for entries). Lines without them need no parse.
  const verbatim = (text: string) => /^[\x20-\x21\x23-\x5a\x5e-\x7e]+$/.test(text);
  const needles = Object.entries(query.filters)
    .filter(([field, value]) => field !== "level" && value !== undefined && verbatim(value))
    .map(([, value]) => value as string);
  // The message of a `log_entry` is in its line too; a summary's message is composed, so summaries always pass.
  const searchable = needle !== null && verbatim(needle) ? needle : null;
  const lineCandidate =
    needles.length === 0 && searchable === null
      ? null
      : (line: string) =>
          needles.every((value) => line.includes(value)) &&
          (searchable === null || !line.includes('"log_entry"') || line.toLowerCase().includes(searchable));
  // A chunk's newest possible position: its newest timestamp at its last byte. Visiting chunks in that order,
  // the first one whose newest possible position is older than the oldest entry kept ends the search, even
  // when many entries share a timestamp.
  const candidates: Array<{ file: IndexedFile; chunk: Chunk; newest: Position }> = [];
  for (const file of index.files()) {
    for (const chunk of file.chunks) {
      if (!chunkMayMatch(chunk, query, bloomKeys)) continue;
      candidates.push({ file, chunk, newest: { ts: chunk.maxTs, file: file.identity, offset: chunk.end } });
    }
  }
  candidates.sort((a, b) => compareNewestFirst(a.newest, b.newest));

  const hasJsonTwin = index.pairTwins ? createTwinLookup(index) : null;
  let kept: IndexedEntry[] = [];
  let complete = indexed && index.stats().complete;
  let chunksRead = 0;
  let examined = 0;
  for (const { file, chunk, newest } of candidates) {
    const oldestKept = kept[query.limit - 1];
    if (oldestKept !== undefined && compareNewestFirst(newest, oldestKept) > 0) break; // nothing left is newer
    if (Date.now() > deadline) {
      complete = false;
      break;
    }
    chunksRead++;
    const entries =
      (lineCandidate !== null && !index.isCached(file, chunk)
        ? await index.scan(file, chunk, lineCandidate)
        : null) ?? (await index.load(file, chunk));
    let added = false;
    examined += entries.length;
    for (const item of entries) {
      if (!entryQualifies(item, query, needle)) continue;
      if (file.format === "text" && hasJsonTwin !== null && (await hasJsonTwin(item))) continue;
      kept.push(item);
      added = true;
    }
    if (added) {
      kept.sort(compareNewestFirst);
      if (kept.length > query.limit) kept = kept.slice(0, query.limit);
    }
  }
  const last = kept.at(-1);
  const next =
    kept.length === query.limit && last !== undefined
      ? { ts: last.ts, file: last.file, offset: last.offset }
      : null;
  return { entries: kept, next, complete, chunksRead, examined };
}
