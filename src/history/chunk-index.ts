/**
 * The history index: what a query needs to know about the log files without reading them. Each file is cut
 * into chunks of about CHUNK_BYTES of whole lines; a chunk records its byte range, its oldest and newest
 * timestamps and a Bloom filter of its filter values (`repository=a/b`, `level=ERROR`...). Files are indexed
 * once, in the background and as they grow (only the new bytes), keyed by inode so a rename-rotation keeps
 * its index; a truncated or replaced file is indexed again. Parsed chunks are kept in a small LRU cache.
 * With `savePath` the index is kept on disk between runs (index-store.ts), so a restart reads only what was
 * appended since.
 *
 * With `redact`, entries are masked as they are parsed, before anything else sees them: the Bloom keys, the
 * cache, the line prefilter of `scan`, the saved index and so every search and filter see only what a reader
 * is shown, and probing a secret character by character learns nothing.
 *
 * Memory: 100 bytes to 2 KiB per chunk (1 GB of logs ≈ 4,000 chunks ≈ 1–8 MB) plus the cache, bounded by
 * `cacheChunks`; past MAX_INDEX_CHUNKS the oldest files are left out and queries say they are incomplete.
 */
import { FILTER_FIELDS } from "../logs/entry.ts";
import { createLogFileAccess } from "../logs/file-access.ts";
import { MAX_LINE_BYTES } from "../logs/follow.ts";
import type { LogFormat, ParseOptions } from "../logs/parse.ts";
import { redactEntry, redactSecrets } from "../logs/redact.ts";
import { runsAfterRequest } from "../process/runs-after-request.ts";
import { CHUNK_BYTES, type Chunk, type IndexedEntry } from "./chunk-parse.ts";
import { createChunkReader } from "./chunk-read.ts";
import { createFileIndexer, type FileIndexerStats } from "./file-indexer.ts";
import { createIndexStore, type IndexStoreStats } from "./index-store.ts";

export type { Chunk, IndexedEntry } from "./chunk-parse.ts";
export { MAX_INDEX_CHUNKS } from "./file-indexer.ts";

/** A fingerprint of the bytes of a file from (head) or to (tail) offset `at`. */
export interface FileFingerprint {
  at: number;
  hash: string;
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
  /** Size and mtime when last listed: a file of the same size with another mtime was rewritten. */
  size: number;
  mtimeMs: number;
  /** The bytes [0, head.at) and [tail.at, indexedTo): a saved index is taken over only where they are unchanged. */
  head: FileFingerprint | null;
  tail: FileFingerprint | null;
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
  /** Keep the index in this file between runs (in DATA_DIR); absent: in memory only. */
  savePath?: string;
  /** The build (its version): a saved index from another build is indexed again. */
  build?: string;
}

export interface HistoryIndexStats {
  files: number;
  chunks: number;
  indexedBytes: number;
  cachedChunks: number;
  complete: boolean;
  /** How the index was built: bytes read for it, and what came from the saved index. */
  indexing: FileIndexerStats;
  /** The saved index; null when it is not kept on disk. */
  saved: IndexStoreStats | null;
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
  /** Saves what changed since the last save (a clean stop); the index stays usable. */
  close(): Promise<void>;
}

export function createHistoryIndex(options: HistoryIndexOptions): HistoryIndex {
  const files = new Map<string, IndexedFile>();
  const shown = options.redact ? redactEntry : <T>(entry: T) => entry;
  const shownLine = options.redact ? redactSecrets : (line: string) => line;
  const access = createLogFileAccess({
    dir: options.dir,
    followSymlinks: options.followSymlinks === true,
    log: options.log,
  });
  const store =
    options.savePath === undefined
      ? null
      : createIndexStore({
          path: options.savePath,
          settings: {
            logDir: options.dir,
            redact: options.redact,
            naiveZone: options.parse.naiveZone,
            build: `${options.build ?? "dev"} chunk ${CHUNK_BYTES} line ${MAX_LINE_BYTES} keys ${FILTER_FIELDS.join(",")}`,
          },
          log: options.log,
          snapshot: () => files.values(),
        });
  const indexer = createFileIndexer({
    files,
    access,
    parse: options.parse,
    shown,
    shownLine,
    log: options.log,
    loadSaved: async () => (await store?.load()) ?? new Map(),
    changed: () => store?.changed(),
  });
  const reader = createChunkReader({
    access,
    parse: options.parse,
    shown,
    shownLine,
    cacheChunks: options.cacheChunks,
    fileOf: (identity) => files.get(identity),
  });

  /** A refresh that lists the directory after the call (see runsAfterRequest): never one listed before it. */
  const refreshes = runsAfterRequest(() =>
    indexer
      .refresh(Number.POSITIVE_INFINITY)
      .then(() => store?.settled())
      .catch((error: unknown) => options.log("error", `history indexing failed: ${String(error)}`)),
  );

  return {
    pairTwins: options.pairTwins !== false,
    async refresh(deadline = Number.POSITIVE_INFINITY) {
      const done = refreshes.request();
      if (deadline === Number.POSITIVE_INFINITY) {
        await done;
        return true;
      }
      const timeout = new Promise<false>((resolve) =>
        setTimeout(() => resolve(false), Math.max(0, deadline - Date.now())),
      );
      return await Promise.race([done.then(() => true as const), timeout]);
    },
    files: () => [...files.values()],
    load: reader.load,
    scan: reader.scan,
    isCached: reader.isCached,
    readLine: reader.readLine,
    stats() {
      let indexedBytes = 0;
      let chunks = 0;
      for (const file of files.values()) {
        indexedBytes += file.indexedTo;
        chunks += file.chunks.length;
      }
      return {
        files: files.size,
        chunks,
        indexedBytes,
        cachedChunks: reader.cachedChunks(),
        complete: indexer.complete(),
        indexing: indexer.stats(),
        saved: store?.stats() ?? null,
      };
    },
    close: async () => await store?.close(),
  };
}
