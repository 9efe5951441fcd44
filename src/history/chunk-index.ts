/**
 * The history index: what a query needs to know about the log files without reading them. Each file is cut
 * into chunks of about CHUNK_BYTES of whole lines; a chunk records its byte range, its oldest and newest
 * timestamps and a Bloom filter of its filter values (`repository=a/b`, `level=ERROR`...). Files are indexed
 * once, in the background and as they grow (only the new bytes), keyed by inode so a rename-rotation keeps
 * its index; a truncated or replaced file is indexed again. Parsed chunks are kept in a small LRU cache.
 *
 * With `redact`, entries are masked as they are parsed, before anything else sees them: the Bloom keys, the
 * cache, the line prefilter of `scan` and so every search and filter see only what a reader is shown, and
 * probing a secret character by character learns nothing.
 *
 * Memory: 100 bytes to 2 KiB per chunk (1 GB of logs ≈ 4,000 chunks ≈ 1–8 MB) plus the cache, bounded by
 * `cacheChunks`; past MAX_INDEX_CHUNKS the oldest files are left out and queries say they are incomplete.
 */

import { createLineAssembler } from "../logs/assemble.ts";
import { FILTER_FIELDS, type LogEntry } from "../logs/entry.ts";
import { createLogFileAccess, type LogFileEntry } from "../logs/file-access.ts";
import { MAX_LINE_BYTES } from "../logs/follow.ts";
import { formatOfFile, type LogFormat, type ParseOptions, parseJsonLine } from "../logs/parse.ts";
import { redactEntry, redactSecrets } from "../logs/redact.ts";
import { fieldValue } from "../logs/topics.ts";
import { type Bloom, bloomAdd, createBloom } from "./bloom.ts";

/** Target size of a chunk: small enough to parse in about a millisecond, large enough to keep the index small. */
export const CHUNK_BYTES = 256 * 1024;
/** Chunks indexed at most (about 25 GB of logs); past it the oldest files are not indexed. */
export const MAX_INDEX_CHUNKS = 100_000;

export interface Chunk {
  start: number;
  end: number;
  minTs: number;
  maxTs: number;
  count: number;
  bloom: Bloom;
  /** The timestamp before the chunk, given to unparsable lines at its start (the same at every parse). */
  precedingTimestamp: string;
}

export interface IndexedFile {
  identity: string;
  path: string;
  format: LogFormat;
  /** Bumped when the file is indexed again from scratch; part of cache keys. */
  generation: number;
  chunks: Chunk[];
  indexedTo: number;
  /** Timestamp given to unparsable lines: the one before them in the file. */
  lastTimestamp: string;
}

export interface IndexedEntry {
  entry: LogEntry;
  ts: number;
  file: string;
  offset: number;
}

export interface HistoryIndexOptions {
  dir: string;
  /** Read log-named symlinks out of `dir` too (see logs/file-access.ts); default false. */
  followSymlinks?: boolean;
  parse: ParseOptions;
  cacheChunks: number;
  /** Mask secrets in everything the index hands out (entries and the lines `scan` tests). */
  redact: boolean;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** Answer each record the processor wrote in two copies (text and JSON) once: default true. */
  pairTwins?: boolean;
}

export interface HistoryIndexStats {
  files: number;
  chunks: number;
  indexedBytes: number;
  cachedChunks: number;
  complete: boolean;
}

export interface HistoryIndex {
  /** Whether queries answer a record written in both formats once (by its JSON copy). */
  readonly pairTwins: boolean;
  /** Brings the index up to date with the directory; false when `deadline` (ms epoch) came first. */
  refresh(deadline?: number): Promise<boolean>;
  files(): readonly IndexedFile[];
  /** The entries of one chunk, newest first (cached). */
  load(file: IndexedFile, chunk: Chunk): Promise<IndexedEntry[]>;
  /**
   * The entries of a JSON-lines chunk whose raw line (masked, with `redact`) passes `candidate`, newest first;
   * null when the chunk is not plain JSON lines (the caller loads it whole). Parses only candidate lines and
   * caches nothing: for selective queries over chunks not in the cache.
   */
  scan(file: IndexedFile, chunk: Chunk, candidate: (line: string) => boolean): Promise<IndexedEntry[] | null>;
  isCached(file: IndexedFile, chunk: Chunk): boolean;
  /**
   * The raw line (masked, with `redact`) that starts at `offset` of an indexed file: the record behind an
   * entry, for answers that need fields the entry does not carry. Null when the file or line is gone.
   */
  readLine(file: string, offset: number): Promise<string | null>;
  stats(): HistoryIndexStats;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The key under which a chunk's Bloom filter holds one filter value; queries ask with the same key. */
export function bloomKey(field: string, value: string): string {
  return `${field}=${value}`;
}

/** The Bloom keys of an entry: one per filter field it has a value for. */
export function bloomKeys(entry: LogEntry): string[] {
  const keys: string[] = [];
  for (const field of FILTER_FIELDS) {
    const value = fieldValue(entry, field);
    if (value !== null) keys.push(bloomKey(field, value));
  }
  return keys;
}

const asIs = (entry: LogEntry) => entry;

/** Parses whole lines `bytes` (starting at file offset `base`) into entries (as `shown`) with their offsets. */
function parseChunk(
  file: IndexedFile,
  bytes: Uint8Array,
  base: number,
  parse: ParseOptions,
  shown: (entry: LogEntry) => LogEntry,
): IndexedEntry[] {
  const out: IndexedEntry[] = [];
  const assembler = createLineAssembler(file.format, parse, (entry, position) => {
    const ms = Date.parse(entry.timestamp);
    out.push({ entry: shown(entry), ts: Number.isNaN(ms) ? 0 : ms, file: file.identity, offset: position });
  });
  const decoder = new TextDecoder();
  let lineStart = 0;
  let lastTimestamp = file.lastTimestamp;
  while (lineStart < bytes.length) {
    let lineEnd = bytes.indexOf(10, lineStart);
    if (lineEnd === -1) lineEnd = bytes.length;
    const cut = Math.min(lineEnd, lineStart + MAX_LINE_BYTES);
    let line = decoder.decode(bytes.subarray(lineStart, cut));
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    const before = out.length;
    // Cut and marked as the follower cuts it: a line that reaches the limit without its newline.
    if (lineEnd - lineStart >= MAX_LINE_BYTES) assembler.pushTruncated(line, lastTimestamp, base + lineStart);
    else assembler.push(line, lastTimestamp, base + lineStart);
    if (out.length > before) lastTimestamp = (out.at(-1) as IndexedEntry).entry.timestamp;
    lineStart = lineEnd + 1;
  }
  assembler.flush();
  return out;
}

/** Where to end a chunk read at [0, bytes.length): after the last newline that follows CHUNK_BYTES, if any. */
function chunkEnd(bytes: Uint8Array): number {
  if (bytes.length > CHUNK_BYTES) {
    const newline = bytes.indexOf(10, CHUNK_BYTES);
    if (newline !== -1) return newline + 1;
  }
  const last = bytes.lastIndexOf(10);
  return last === -1 ? 0 : last + 1;
}

export function createHistoryIndex(options: HistoryIndexOptions): HistoryIndex {
  const files = new Map<string, IndexedFile>();
  const cache = new Map<string, IndexedEntry[]>();
  let refreshing: Promise<void> | null = null;
  let complete = true;
  let warnedCap = false;
  const shown = options.redact ? redactEntry : asIs;
  const shownLine = options.redact ? redactSecrets : (line: string) => line;
  const access = createLogFileAccess({
    dir: options.dir,
    followSymlinks: options.followSymlinks === true,
    log: options.log,
  });

  const totalChunks = () => {
    let total = 0;
    for (const file of files.values()) total += file.chunks.length;
    return total;
  };

  function listDirectory(): LogFileEntry[] {
    // newest first, so the cap drops the oldest
    return (access.list() ?? []).sort((a, b) => b.mtimeMs - a.mtimeMs);
  }

  /** The bytes [start, end) of an indexed file; null when its name no longer holds it (until the next refresh). */
  const readRange = (file: IndexedFile, start: number, end: number): Promise<Uint8Array | null> =>
    access.read(file.path, file.identity, start, end);

  async function indexChunk(file: IndexedFile, size: number): Promise<boolean> {
    const readTo = Math.min(size, file.indexedTo + CHUNK_BYTES + MAX_LINE_BYTES);
    const bytes = await readRange(file, file.indexedTo, readTo);
    if (bytes === null) return false;
    let end = chunkEnd(bytes);
    if (end === 0) {
      if (bytes.length < MAX_LINE_BYTES) return false; // only a half-written line so far
      end = bytes.length; // a line longer than the limit: index it as cut
    }
    const precedingTimestamp = file.lastTimestamp;
    const entries = parseChunk(file, bytes.subarray(0, end), file.indexedTo, options.parse, shown);
    const keys = new Set<string>();
    let minTs = Number.POSITIVE_INFINITY;
    let maxTs = Number.NEGATIVE_INFINITY;
    for (const { entry, ts } of entries) {
      for (const key of bloomKeys(entry)) keys.add(key);
      if (ts < minTs) minTs = ts;
      if (ts > maxTs) maxTs = ts;
    }
    const bloom = createBloom(keys.size);
    for (const key of keys) bloomAdd(bloom, key);
    if (entries.length > 0) file.lastTimestamp = (entries.at(-1) as IndexedEntry).entry.timestamp;
    file.chunks.push({
      start: file.indexedTo,
      end: file.indexedTo + end,
      minTs,
      maxTs,
      count: entries.length,
      bloom,
      precedingTimestamp,
    });
    file.indexedTo += end;
    return true;
  }

  async function refreshAll(deadline: number): Promise<void> {
    const listing = listDirectory();
    const present = new Set(listing.map((entry) => entry.identity));
    for (const identity of files.keys()) if (!present.has(identity)) files.delete(identity);
    let incomplete = false;
    for (const entry of listing) {
      let file = files.get(entry.identity);
      if (file === undefined) {
        if (totalChunks() >= MAX_INDEX_CHUNKS) {
          if (!warnedCap)
            options.log(
              "warn",
              `history index holds ${MAX_INDEX_CHUNKS} chunks; older files are not indexed`,
            );
          warnedCap = true;
          incomplete = true;
          continue;
        }
        file = {
          identity: entry.identity,
          path: entry.path,
          format: formatOfFile(entry.path),
          generation: 0,
          chunks: [],
          indexedTo: 0,
          lastTimestamp: new Date(0).toISOString(),
        };
        files.set(entry.identity, file);
      }
      file.path = entry.path;
      if (entry.size < file.indexedTo) {
        file.generation++;
        file.chunks = [];
        file.indexedTo = 0;
      }
      while (file.indexedTo < entry.size) {
        if (Date.now() > deadline) return;
        if (!(await indexChunk(file, entry.size))) break;
        await yieldToEventLoop();
      }
    }
    complete = !incomplete;
  }

  return {
    pairTwins: options.pairTwins !== false,
    async refresh(deadline = Number.POSITIVE_INFINITY) {
      refreshing ??= refreshAll(Number.POSITIVE_INFINITY)
        .catch((error: unknown) => options.log("error", `history indexing failed: ${String(error)}`))
        .finally(() => {
          refreshing = null;
        });
      if (deadline === Number.POSITIVE_INFINITY) {
        await refreshing;
        return true;
      }
      const timeout = new Promise<false>((resolve) =>
        setTimeout(() => resolve(false), Math.max(0, deadline - Date.now())),
      );
      return await Promise.race([refreshing.then(() => true as const), timeout]);
    },
    files: () => [...files.values()],
    async load(file, chunk) {
      const key = `${file.identity}:${file.generation}:${chunk.start}`;
      const cached = cache.get(key);
      if (cached !== undefined) {
        cache.delete(key); // re-insert: Map order is the LRU order
        cache.set(key, cached);
        return cached;
      }
      const bytes = await readRange(file, chunk.start, chunk.end);
      if (bytes === null) return []; // renamed or replaced since the last refresh: not cached
      const entries = parseChunk(
        { ...file, lastTimestamp: chunk.precedingTimestamp },
        bytes,
        chunk.start,
        options.parse,
        shown,
      );
      entries.sort((a, b) => b.ts - a.ts || b.offset - a.offset);
      cache.set(key, entries);
      while (cache.size > options.cacheChunks) cache.delete(cache.keys().next().value as string);
      return entries;
    },
    isCached: (file, chunk) => cache.has(`${file.identity}:${file.generation}:${chunk.start}`),
    async readLine(identity, offset) {
      const file = files.get(identity);
      const chunk = file?.chunks.find((candidate) => candidate.start <= offset && offset < candidate.end);
      if (file === undefined || chunk === undefined) return null;
      const bytes = await readRange(file, offset, chunk.end);
      if (bytes === null) return null;
      const newline = bytes.indexOf(10);
      return shownLine(new TextDecoder().decode(newline === -1 ? bytes : bytes.subarray(0, newline)));
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
        if (line.length > 0 && candidate(shownLine(line))) {
          const entry = shown(parseJsonLine(line, options.parse, chunk.precedingTimestamp));
          const ms = Date.parse(entry.timestamp);
          out.push({ entry, ts: Number.isNaN(ms) ? 0 : ms, file: file.identity, offset });
        }
        offset += ascii ? end + 1 - start : Buffer.byteLength(line) + 1;
        start = end + 1;
      }
      out.sort((a, b) => b.ts - a.ts || b.offset - a.offset);
      return out;
    },
    stats() {
      let indexedBytes = 0;
      for (const file of files.values()) indexedBytes += file.indexedTo;
      return { files: files.size, chunks: totalChunks(), indexedBytes, cachedChunks: cache.size, complete };
    },
  };
}
