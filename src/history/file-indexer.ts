/**
 * Bringing the index up to date with the log directory. Files are keyed by identity (device and inode), so a
 * rename-rotation keeps its chunks; only the bytes past what is indexed are read, a chunk at a time; a file
 * that shrank is indexed again from its start and a file that is gone is dropped.
 *
 * At the first refresh the saved index is taken over file by file, only where the file is still the one the
 * chunks describe: the same identity, not smaller, not rewritten in place (same size, other mtime), and the
 * same bytes at its start and just before its indexed end (fingerprints, which also tell a reused inode
 * apart). Those files then index only what was appended since; any other file is indexed from its start.
 */
import type { LogEntry } from "../logs/entry.ts";
import type { LogFileAccess, LogFileEntry } from "../logs/file-access.ts";
import { MAX_LINE_BYTES } from "../logs/follow.ts";
import { formatOfFile, type ParseOptions } from "../logs/parse.ts";
import { yieldToEventLoop } from "../process/event-loop.ts";
import type { IndexedFile } from "./chunk-index.ts";
import {
  CHUNK_BYTES,
  chunkEnd,
  FINGERPRINT_BYTES,
  fingerprint,
  type IndexedEntry,
  parseChunk,
  summariseChunk,
} from "./chunk-parse.ts";

/**
 * Bytes read past CHUNK_BYTES to find where the chunk ends, before reading up to a whole line's limit: reading
 * CHUNK_BYTES + MAX_LINE_BYTES for every chunk read five times what it used.
 */
const CHUNK_READ_SLACK = 64 * 1024;

/** Chunks indexed at most (about 25 GB of logs); past it the oldest files are not indexed. */
export const MAX_INDEX_CHUNKS = 100_000;

export interface FileIndexerDeps {
  files: Map<string, IndexedFile>;
  access: LogFileAccess;
  parse: ParseOptions;
  shown: (entry: LogEntry) => LogEntry;
  shownLine: (line: string) => string;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** The saved index's files by identity, asked for once (at the first refresh). */
  loadSaved(): Promise<Map<string, IndexedFile>>;
  /** Chunks were added or dropped. */
  changed(): void;
}

export interface FileIndexerStats {
  /** Bytes of log files indexed (read and parsed into chunks) since the start: what a saved index spares. */
  bytesIndexed: number;
  filesRestored: number;
  bytesRestored: number;
  /** Saved files that had changed and were indexed again from their start. */
  filesReindexed: number;
}

export interface FileIndexer {
  /** One pass over the directory; returns early, with `complete()` unchanged, once `deadline` has passed. */
  refresh(deadline: number): Promise<void>;
  /** False when the last finished pass left files out at MAX_INDEX_CHUNKS. */
  complete(): boolean;
  stats(): FileIndexerStats;
}

function newFile(entry: LogFileEntry): IndexedFile {
  return {
    identity: entry.identity,
    path: entry.path,
    format: formatOfFile(entry.path),
    generation: 0,
    chunks: [],
    indexedTo: 0,
    lastTimestamp: new Date(0).toISOString(),
    size: entry.size,
    mtimeMs: entry.mtimeMs,
    head: null,
    tail: null,
  };
}

/** Whether the saved chunks of `saved` still describe the file listed as `entry` (read by the access rule). */
async function stillDescribes(
  saved: IndexedFile,
  entry: LogFileEntry,
  deps: FileIndexerDeps,
): Promise<boolean> {
  const fingerprintOf = async (start: number, end: number) => {
    const bytes = await deps.access.read(entry.path, entry.identity, start, end);
    return bytes === null ? null : fingerprint(bytes, deps.shownLine);
  };
  if (saved.format !== formatOfFile(entry.path) || saved.head === null || saved.tail === null) return false;
  if (entry.size < saved.size) return false; // it shrank
  if (entry.size === saved.size && entry.mtimeMs !== saved.mtimeMs) return false; // rewritten in place
  return (
    (await fingerprintOf(0, saved.head.at)) === saved.head.hash &&
    (await fingerprintOf(saved.tail.at, saved.indexedTo)) === saved.tail.hash
  );
}

/** Takes over the saved chunks of every listed file they still describe (at the first refresh only). */
async function restoreSaved(
  deps: FileIndexerDeps,
  listing: readonly LogFileEntry[],
  stats: FileIndexerStats,
  totalChunks: () => number,
): Promise<void> {
  const startedAt = performance.now();
  const saved = await deps.loadSaved();
  if (saved.size === 0) return;
  for (const entry of listing) {
    const file = saved.get(entry.identity);
    if (file === undefined || file.chunks.length === 0) continue;
    if (totalChunks() + file.chunks.length > MAX_INDEX_CHUNKS) break; // the cap then leaves the rest out
    if (!(await stillDescribes(file, entry, deps))) {
      stats.filesReindexed++;
      continue;
    }
    deps.files.set(entry.identity, { ...file, path: entry.path });
    stats.filesRestored++;
    stats.bytesRestored += file.indexedTo;
  }
  const listed = new Set(listing.map((entry) => entry.identity));
  const gone = [...saved.keys()].filter((identity) => !listed.has(identity)).length;
  deps.log(
    "info",
    `history index: ${stats.filesRestored} files (${(stats.bytesRestored / 1048576).toFixed(1)} MB) taken from ` +
      `the saved index in ${(performance.now() - startedAt).toFixed(0)} ms, ${stats.filesReindexed} changed ` +
      `since and indexed again, ${gone} no longer there`,
  );
  if (stats.filesReindexed > 0 || gone > 0) deps.changed();
}

/** Indexes the next chunk of `file` (up to `size`); false when nothing whole is left to index. */
async function indexChunk(
  file: IndexedFile,
  size: number,
  deps: FileIndexerDeps,
  stats: FileIndexerStats,
): Promise<boolean> {
  const start = file.indexedTo;
  const readTo = (length: number) =>
    deps.access.read(file.path, file.identity, start, Math.min(size, start + length));
  // Most chunks end within a few lines past CHUNK_BYTES: the long read is only for a line that does not.
  let bytes = await readTo(CHUNK_BYTES + CHUNK_READ_SLACK);
  if (bytes !== null && bytes.indexOf(10, CHUNK_BYTES) === -1 && start + bytes.length < size)
    bytes = await readTo(CHUNK_BYTES + MAX_LINE_BYTES);
  if (bytes === null) return false;
  let end = chunkEnd(bytes);
  if (end === 0) {
    if (bytes.length < MAX_LINE_BYTES) return false; // only a half-written line so far
    end = bytes.length; // a line longer than the limit: index it as cut
  }
  stats.bytesIndexed += end;
  const entries = parseChunk(file, bytes.subarray(0, end), start, deps.parse, deps.shown);
  file.chunks.push(summariseChunk(entries, start, start + end, file.lastTimestamp));
  if (entries.length > 0) file.lastTimestamp = (entries.at(-1) as IndexedEntry).entry.timestamp;
  file.indexedTo = start + end;
  if (start === 0) {
    const at = Math.min(end, FINGERPRINT_BYTES);
    file.head = { at, hash: fingerprint(bytes.subarray(0, at), deps.shownLine) };
  }
  const tailAt = Math.max(0, end - FINGERPRINT_BYTES);
  file.tail = { at: start + tailAt, hash: fingerprint(bytes.subarray(tailAt, end), deps.shownLine) };
  deps.changed();
  return true;
}

export function createFileIndexer(deps: FileIndexerDeps): FileIndexer {
  const { files } = deps;
  const stats: FileIndexerStats = { bytesIndexed: 0, filesRestored: 0, bytesRestored: 0, filesReindexed: 0 };
  let restored = false;
  let complete = true;
  let warnedCap = false;

  const totalChunks = () => {
    let total = 0;
    for (const file of files.values()) total += file.chunks.length;
    return total;
  };
  /** The listed file's index entry, new or restored; null when the chunk cap leaves it out. */
  function admit(entry: LogFileEntry): IndexedFile | null {
    const known = files.get(entry.identity);
    if (known !== undefined) return known;
    if (totalChunks() >= MAX_INDEX_CHUNKS) {
      if (!warnedCap)
        deps.log("warn", `history index holds ${MAX_INDEX_CHUNKS} chunks; older files are not indexed`);
      warnedCap = true;
      return null;
    }
    const file = newFile(entry);
    files.set(entry.identity, file);
    return file;
  }

  return {
    async refresh(deadline) {
      // newest first, so the cap drops the oldest
      const listing = (deps.access.list() ?? []).sort((a, b) => b.mtimeMs - a.mtimeMs);
      const present = new Set(listing.map((entry) => entry.identity));
      for (const identity of files.keys())
        if (!present.has(identity)) {
          files.delete(identity);
          deps.changed();
        }
      if (!restored) {
        restored = true;
        await restoreSaved(deps, listing, stats, totalChunks);
      }
      let incomplete = false;
      for (const entry of listing) {
        const file = admit(entry);
        if (file === null) {
          incomplete = true;
          continue;
        }
        file.path = entry.path;
        if (entry.size < file.indexedTo) {
          Object.assign(file, { ...newFile(entry), generation: file.generation + 1 });
          deps.changed();
        }
        file.size = entry.size;
        file.mtimeMs = entry.mtimeMs;
        while (file.indexedTo < entry.size) {
          if (Date.now() > deadline) return;
          if (!(await indexChunk(file, entry.size, deps, stats))) break;
          await yieldToEventLoop();
        }
      }
      complete = !incomplete;
    },
    complete: () => complete,
    stats: () => ({ ...stats }),
  };
}
