/**
 * Reading indexed chunks back for a query: whole (parsed, newest first, kept in a small LRU cache), through
 * the raw-line prefilter (parsing only candidate lines, caching nothing), or one line at an offset. Every
 * read goes through the log files' access rule and is masked as the index was built.
 */
import type { LogEntry } from "../logs/entry.ts";
import type { LogFileAccess } from "../logs/file-access.ts";
import { type ParseOptions, parseJsonLine } from "../logs/parse.ts";
import type { IndexedFile } from "./chunk-index.ts";
import { type Chunk, type IndexedEntry, parseChunk } from "./chunk-parse.ts";

export interface ChunkReaderDeps {
  access: LogFileAccess;
  parse: ParseOptions;
  shown: (entry: LogEntry) => LogEntry;
  shownLine: (line: string) => string;
  /** Parsed chunks kept at most (HISTORY_CACHE_CHUNKS); the least recently used is dropped past it. */
  cacheChunks: number;
  fileOf(identity: string): IndexedFile | undefined;
}

export interface ChunkReader {
  load(file: IndexedFile, chunk: Chunk): Promise<IndexedEntry[]>;
  scan(file: IndexedFile, chunk: Chunk, candidate: (line: string) => boolean): Promise<IndexedEntry[] | null>;
  isCached(file: IndexedFile, chunk: Chunk): boolean;
  readLine(identity: string, offset: number): Promise<string | null>;
  cachedChunks(): number;
}

const newestFirst = (a: IndexedEntry, b: IndexedEntry) => b.ts - a.ts || b.offset - a.offset;

export function createChunkReader(deps: ChunkReaderDeps): ChunkReader {
  const cache = new Map<string, IndexedEntry[]>();
  const cacheKey = (file: IndexedFile, chunk: Chunk) => `${file.identity}:${file.generation}:${chunk.start}`;
  /** The bytes [start, end) of an indexed file; null when its name no longer holds it (until the next refresh). */
  const readRange = (file: IndexedFile, start: number, end: number) =>
    deps.access.read(file.path, file.identity, start, end);

  return {
    async load(file, chunk) {
      const key = cacheKey(file, chunk);
      const cached = cache.get(key);
      if (cached !== undefined) {
        cache.delete(key); // re-insert: Map order is the LRU order
        cache.set(key, cached);
        return cached;
      }
      const bytes = await readRange(file, chunk.start, chunk.end);
      if (bytes === null) return []; // renamed or replaced since the last refresh: not cached
      const source = { ...file, lastTimestamp: chunk.precedingTimestamp };
      const entries = parseChunk(source, bytes, chunk.start, deps.parse, deps.shown);
      entries.sort(newestFirst);
      cache.set(key, entries);
      while (cache.size > deps.cacheChunks) cache.delete(cache.keys().next().value as string);
      return entries;
    },
    isCached: (file, chunk) => cache.has(cacheKey(file, chunk)),
    async readLine(identity, offset) {
      const file = deps.fileOf(identity);
      const chunk = file?.chunks.find((candidate) => candidate.start <= offset && offset < candidate.end);
      if (file === undefined || chunk === undefined) return null;
      const bytes = await readRange(file, offset, chunk.end);
      if (bytes === null) return null;
      const newline = bytes.indexOf(10);
      return deps.shownLine(new TextDecoder().decode(newline === -1 ? bytes : bytes.subarray(0, newline)));
    },
    async scan(file, chunk, candidate) {
      if (file.format !== "json") return null;
      const bytes = await readRange(file, chunk.start, chunk.end);
      if (bytes === null) return [];
      const text = new TextDecoder().decode(bytes);
      // A lone "{" starts a pretty-printed record spread over lines: such chunks are parsed whole.
      if (text.startsWith("{\n") || text.includes("\n{\n")) return null;
      const ascii = text.length === bytes.length; // then character offsets are byte offsets
      const out: IndexedEntry[] = [];
      let offset = chunk.start;
      let start = 0;
      while (start < text.length) {
        let end = text.indexOf("\n", start);
        if (end === -1) end = text.length;
        const line = text.slice(start, end);
        if (line.length > 0 && candidate(deps.shownLine(line))) {
          const entry = deps.shown(parseJsonLine(line, deps.parse, chunk.precedingTimestamp));
          const ms = Date.parse(entry.timestamp);
          out.push({ entry, ts: Number.isNaN(ms) ? 0 : ms, file: file.identity, offset });
        }
        offset += ascii ? end + 1 - start : Buffer.byteLength(line) + 1;
        start = end + 1;
      }
      out.sort(newestFirst);
      return out;
    },
    cachedChunks: () => cache.size,
  };
}
