/**
 * The one log follower of the process: watches the log directory and turns every complete line appended to
 * any log file into entries, whatever number of clients listen.
 *
 * - Files are identified by device + inode, not by name, so a rename-rotation (`x.log` → `x.log.1`) keeps
 *   its position and its rest is read before the new `x.log`, which is read from its first byte.
 * - Reads go through an open descriptor (`Bun.file(fd).slice`), so the bytes read always belong to the file
 *   whose position we hold, even if the name was reused in between; a file deleted while tailed is drained.
 * - A size below our position means copy-truncate: start again at 0. The copy is recognised and continues
 *   where the original had been read (copy-truncate.ts), and its rest is read before the original's new lines.
 * - `fs.watch` is only a hint; a cheap poll of the directory is the safety net, so a missed event delays a
 *   line by at most one poll interval and never stalls the stream.
 * - Reads are bounded chunks and only whole lines are consumed: a half-written line waits for its newline,
 *   a line longer than the chunk is cut (marked `truncated`) and the rest of it skipped.
 * - Files present at start are followed from their end (or from the position saved by the previous run);
 *   files that appear later are read from the start. A follower taking over from another (`takeOverSince`)
 *   reads the files that one did not know and that changed since it stopped from the start too.
 */
import { closeSync, type FSWatcher, fstatSync, readSync, watch } from "node:fs";
import { join } from "node:path";
import { createLineAssembler, type LineAssembler } from "./assemble.ts";
import {
  COPY_HEAD_BYTES,
  type CopySource,
  copySources,
  createCopyTracker,
  readHead,
  readHeadOf,
} from "./copy-truncate.ts";
import type { LogEntry } from "./entry.ts";
import { createLogFileAccess, type LogFileEntry } from "./file-access.ts";
import { formatOfFile, type LogFormat, type ParseOptions } from "./parse.ts";
import type { PositionStore, SavedPosition } from "./positions.ts";
import { createTwinWindow, type TwinStats, type TwinWindow } from "./twins.ts";

/**
 * Bytes read per step. Smaller steps mean less garbage per batch (peak RSS under a burst fell from ~124 MB
 * to ~96 MB going from 1 MiB to 256 KiB) at the same throughput.
 */
export const READ_CHUNK_BYTES = 256 * 1024;
/** The longest line kept whole: a step without a newline is read again this long before the line is cut. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Most files followed at once; past it the most recently modified win (and a warning is logged). */
export const MAX_FOLLOWED_FILES = 1024;
/** A descriptor unused this long is closed; the file is reopened (and its identity checked) when it grows. */
const IDLE_DESCRIPTOR_MS = 60_000;
/**
 * Bun's fs.watch drops some change events (measured: up to half of the last appends of short bursts), so a file
 * that grew is re-checked every HOT_POLL_MS (one fstat) until it has been quiet for HOT_WINDOW_MS. Idle files
 * cost no timer at all.
 */
const HOT_POLL_MS = 2;
const HOT_WINDOW_MS = 1_000;
/** Appends up to this size are read with a positioned readSync (about 1 µs) instead of an async slice. */
const SMALL_READ_BYTES = 64 * 1024;

export interface FollowerOptions {
  dir: string;
  pollIntervalMs: number;
  /** Follow log-named symlinks out of `dir` too (see file-access.ts); default false. */
  followSymlinks?: boolean;
  parse: ParseOptions;
  emit: (entry: LogEntry) => void;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** Called when the directory appears or disappears. */
  onDirectoryChange?: (exists: boolean) => void;
  /**
   * Called after each synchronous batch of emitted entries (the hub writes its journal then), and after files
   * start or stop being followed. A returned promise holds the reading of that file until it settles
   * (backpressure from a writer that cannot keep up).
   */
  onBatchEnd?: () => void | Promise<void>;
  /** Saved positions: files known from a previous run continue where it stopped instead of at their end. */
  positions?: PositionStore;
  /**
   * The saved positions are where another follower of this directory stopped, at this time (ms), while the
   * files kept changing (a cluster writer taking over after the previous one): a file they do not know, or
   * that shrank below its saved position, and that was modified since then is read from its start instead
   * of its end. Older files keep the first-start rule: what they held before was not wanted then either.
   */
  takeOverSince?: number;
  /** How often changed positions are saved (and always on stop). */
  positionSaveIntervalMs?: number;
  /**
   * Makes `positions()` exact at every batch end: it never runs ahead of what was emitted. Text entries are
   * then completed at the end of each read step (a traceback cut by a 256 KiB step boundary continues as an
   * entry of its own, as across reads), and a pretty-printed JSON record still being gathered keeps its
   * file's position at its first line.
   */
  exactPositions?: boolean;
  /**
   * Merge the two copies the processor writes of each record (text line and JSON line) into one entry
   * (default true); false streams every file's lines as they are.
   */
  pairTwins?: boolean;
}

export interface FollowedFileInfo {
  path: string;
  offset: number;
  format: LogFormat;
}

export interface FollowerStats {
  directoryExists: boolean;
  files: FollowedFileInfo[];
  linesTruncated: number;
  truncationsSeen: number;
  rotationsSeen: number;
  /** Entries the files' lines made, per file format; `unparsed`: streamed raw (level UNKNOWN). */
  entries: Record<LogFormat, EntryCounts>;
  /** Pairing of the processor's two copies of a record; null when turned off. */
  twins: TwinStats | null;
}

export interface EntryCounts {
  read: number;
  unparsed: number;
}

export interface LogFollower {
  /** Resolves after the first directory pass: files present then are followed from their end. */
  start(): Promise<void>;
  stop(): void;
  directoryExists(): boolean;
  stats(): FollowerStats;
  /**
   * Where each followed file continues from after everything emitted so far: exact at a batch end with
   * `exactPositions` (what a writer commits together with the batch), else the read offsets.
   */
  positions(): SavedPosition[];
}

interface FollowedFile {
  identity: string;
  path: string;
  format: LogFormat;
  offset: number;
  fd: number | null;
  /** Whether the descriptor's own position may have moved (see readSlice). */
  fdUsed: boolean;
  lastActivity: number;
  assembler: LineAssembler;
  skippingLongLine: boolean;
  reading: Promise<void> | null;
  readAgain: boolean;
  /**
   * False from discovery until the scan that found the file has drained the files it already followed: a
   * watch event for a new `x.log` must not overtake the rest of the renamed `x.log.1`. False again from a
   * truncation until the next scan has read the rest of the file's copy, if any.
   */
  ready: boolean;
  /** The file's first bytes read so far, up to COPY_HEAD_BYTES: how its copy is recognised once emptied. */
  head: Uint8Array;
  /** Until when the file is re-checked every HOT_POLL_MS (it grew recently). */
  hotUntil: number;
  /** With exactPositions: byte offset of the first line the assembler still holds, if any. */
  heldFrom: number | null;
  /** With exactPositions: whether the assembler emitted during the current push. */
  emitted: boolean;
  /** File offset of the read step being parsed: where its entries are read again from after a restart. */
  stepStart: number;
}

export function createLogFollower(options: FollowerOptions): LogFollower {
  const { dir, log } = options;
  const files = new Map<string, FollowedFile>();
  const identityByPath = new Map<string, string>();
  const decoder = new TextDecoder();
  let watcher: FSWatcher | null = null;
  let pollTimer: ReturnType<typeof setInterval> | null = null;
  let dirExists = false;
  let started = false;
  let stopped = false;
  let firstScanDone = false;
  let scanning: Promise<void> | null = null;
  let scanAgain = false;
  let warnedTooMany = false;
  let positionsDirty = false;
  /** Armed when positions change, so a quiet follower runs no timer. */
  let saveTimer: ReturnType<typeof setTimeout> | null = null;
  const savedPositions = options.positions?.load() ?? new Map<string, SavedPosition>();
  const batchEnd = options.onBatchEnd ?? (() => {});
  /** Ends a batch and waits if the callback asks to. */
  const endBatch = async (): Promise<void> => {
    const backpressure = batchEnd();
    if (backpressure !== undefined) await backpressure;
  };
  const exact = options.exactPositions === true;
  const counters = { linesTruncated: 0, truncationsSeen: 0, rotationsSeen: 0 };
  const entries: Record<LogFormat, EntryCounts> = {
    text: { read: 0, unparsed: 0 },
    json: { read: 0, unparsed: 0 },
  };
  const twins: TwinWindow | null =
    options.pairTwins === false
      ? null
      : createTwinWindow({
          emit: options.emit,
          // A twin may still be in a file of that format that is being read or has grown unread.
          formatBusy: (format) => {
            for (const file of files.values()) {
              if (file.format !== format) continue;
              if (file.reading !== null) return true;
              if (file.fd !== null && fstatSync(file.fd).size !== file.offset) return true;
            }
            return false;
          },
          formatPresent: (format) => {
            for (const file of files.values()) if (file.format === format) return true;
            return false;
          },
          // A watch event for the twin's file may be dropped: poll that file until the twin is read.
          expecting: (format) => {
            const now = Date.now();
            for (const file of files.values()) {
              if (file.format === format && file.fd !== null) {
                file.hotUntil = now + HOT_WINDOW_MS;
                startHotTimer();
              }
            }
          },
        });
  /** Where a file must be read again from so that nothing held or half-assembled is lost. */
  const resumeOffset = (file: FollowedFile, held: Map<string, number> | null): number => {
    const own = file.heldFrom ?? file.offset;
    const twin = held?.get(file.identity);
    return twin === undefined ? own : Math.min(own, twin);
  };
  const access = createLogFileAccess({ dir, followSymlinks: options.followSymlinks === true, log });
  const copies = createCopyTracker();

  const setDirectoryExists = (exists: boolean) => {
    if (exists === dirExists) return;
    dirExists = exists;
    if (exists) startWatcher();
    else stopWatcher();
    options.onDirectoryChange?.(exists);
  };

  function startWatcher() {
    if (watcher !== null || stopped) return;
    try {
      watcher = watch(dir, { persistent: false }, (event, name) => onWatchEvent(event, name));
      watcher.on("error", (error) => {
        log("warn", `watching ${dir} failed (${String(error)}); polling continues`);
        stopWatcher();
      });
    } catch (error) {
      log("warn", `cannot watch ${dir} (${String(error)}); polling every ${options.pollIntervalMs} ms`);
    }
  }

  function stopWatcher() {
    watcher?.close();
    watcher = null;
  }

  function onWatchEvent(event: string, name: string | Buffer | null) {
    const identity = typeof name === "string" ? identityByPath.get(join(dir, name)) : undefined;
    const file = identity === undefined ? undefined : files.get(identity);
    // A write to a file we follow needs no directory listing: read it through its descriptor.
    if (event === "change" && file !== undefined && file.ready) void pump(file);
    else void scan();
  }

  function listDirectory(): LogFileEntry[] | null {
    const listing = access.list();
    if (listing === null) return null;
    if (listing.length > MAX_FOLLOWED_FILES) {
      if (!warnedTooMany)
        log("warn", `${listing.length} log files; following the ${MAX_FOLLOWED_FILES} newest`);
      warnedTooMany = true;
      listing.sort((a, b) => b.mtimeMs - a.mtimeMs);
      listing.length = MAX_FOLLOWED_FILES;
    }
    return listing;
  }

  /**
   * Where to start a file: at start-up its saved position, else its end (its start when taking over); later
   * its start, or where its original had been read for a copy (null: not yet, see copy-truncate.ts).
   */
  function startOffset(entry: LogFileEntry, atStartUp: boolean, sources: CopySource[]): number | null {
    const first = () => readHead(access, entry.path, entry.identity, COPY_HEAD_BYTES);
    if (!atStartUp) return copies.startOf(entry, sources, first, Date.now());
    const saved = savedPositions.get(entry.identity);
    if (saved !== undefined && saved.offset <= entry.size) return saved.offset;
    const since = options.takeOverSince;
    return since !== undefined && entry.mtimeMs >= since ? 0 : entry.size;
  }

  function follow(entry: LogFileEntry, offset: number): FollowedFile {
    const format = formatOfFile(entry.path);
    const counts = entries[format];
    const pass =
      twins === null
        ? (logEntry: LogEntry) => options.emit(logEntry)
        : (logEntry: LogEntry, position: number) =>
            twins.offer(logEntry, {
              format,
              file: file.identity,
              position: exact ? position : file.stepStart,
            });
    const emit = (logEntry: LogEntry, position: number) => {
      counts.read++;
      if (logEntry.level === "UNKNOWN") counts.unparsed++;
      if (exact) file.emitted = true;
      pass(logEntry, position);
    };
    const file: FollowedFile = {
      identity: entry.identity,
      path: entry.path,
      format,
      offset,
      fd: null,
      fdUsed: false,
      lastActivity: Date.now(),
      assembler: createLineAssembler(format, options.parse, emit),
      skippingLongLine: false,
      reading: null,
      readAgain: false,
      ready: false,
      head: new Uint8Array(0),
      hotUntil: 0,
      heldFrom: null,
      emitted: false,
      stepStart: 0,
    };
    files.set(entry.identity, file);
    rememberHead(file);
    return file;
  }

  /** Extends the remembered head to what has been read (a positioned read of at most COPY_HEAD_BYTES). */
  function rememberHead(file: FollowedFile): void {
    const length = Math.min(COPY_HEAD_BYTES, file.offset);
    if (file.head.length >= length) return;
    const head =
      file.fd === null ? readHead(access, file.path, file.identity, length) : readHeadOf(file.fd, length);
    if (head !== null) file.head = head;
  }

  function closeDescriptor(file: FollowedFile) {
    if (file.fd === null) return;
    closeSync(file.fd);
    file.fd = null;
    file.fdUsed = false;
  }

  /** Opens the file by path and checks it is still the inode we follow; false when the name moved on. */
  function openDescriptor(file: FollowedFile): boolean {
    const fd = access.open(file.path, file.identity);
    if (fd === null) return false;
    file.fd = fd;
    file.fdUsed = false;
    return true;
  }

  /**
   * Reads [start, end) through the descriptor. Bun reads `slice(0, n)` of a descriptor from the descriptor's
   * current position instead of seeking to 0, so a read at offset 0 happens only on a freshly opened one.
   */
  async function readSlice(file: FollowedFile, start: number, end: number): Promise<Uint8Array | null> {
    if (end - start <= SMALL_READ_BYTES) {
      // Positioned read (pread): independent of the descriptor's own position.
      const bytes = new Uint8Array(end - start);
      const read = readSync(file.fd as number, bytes, 0, bytes.length, start);
      return read === bytes.length ? bytes : bytes.subarray(0, read);
    }
    if (start === 0 && file.fdUsed) {
      closeDescriptor(file);
      if (!openDescriptor(file)) return null;
    }
    file.fdUsed = true;
    return await Bun.file(file.fd as number)
      .slice(start, end)
      .bytes();
  }

  /**
   * How many bytes of `bytes` (read at the file's offset) to consume: up to and including the last newline,
   * all of it while skipping the tail of an over-long line, or all of it when a full chunk holds no newline
   * (the line is cut there). 0 means a half-written line: wait for more.
   */
  function consumableLength(file: FollowedFile, bytes: Uint8Array, fullChunk: boolean): number {
    const lastNewline = bytes.lastIndexOf(10);
    if (lastNewline !== -1) return lastNewline + 1;
    return file.skippingLongLine || fullChunk ? bytes.length : 0;
  }

  /** Hands the lines of `chunk` (exactly what consumableLength allowed) to the assembler. */
  function consumeLines(file: FollowedFile, chunk: Uint8Array): void {
    let start = 0;
    if (file.skippingLongLine) {
      const newline = chunk.indexOf(10);
      if (newline === -1) return;
      start = newline + 1;
      file.skippingLongLine = false;
    }
    if (start === chunk.length) return;
    const now = new Date().toISOString();
    if (chunk[chunk.length - 1] !== 10) {
      // A whole chunk without a newline: cut the line here, skip the rest of it.
      file.assembler.pushTruncated(
        decoder.decode(chunk.subarray(start)),
        now,
        file.offset - chunk.length + start,
      );
      file.skippingLongLine = true;
      counters.linesTruncated++;
      return;
    }
    const text = decoder.decode(chunk.subarray(start, chunk.length - 1));
    const assembler = file.assembler;
    if (exact) {
      consumeLinesExactly(file, text, file.offset - chunk.length + start, now);
      return;
    }
    for (let line of text.split("\n")) {
      if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
      assembler.push(line, now);
    }
  }

  /**
   * consumeLines for exactPositions: after it, `heldFrom ?? offset` is where a reader must start again to get
   * exactly what was not emitted yet. The text assembler holds at most the entry of the last line, so it is
   * flushed; the JSON assembler holds lines only while it gathers a pretty-printed record and lets go of all
   * of them whenever it emits, so a push that emits nothing and is not blank starts (or continues) a hold.
   */
  function consumeLinesExactly(file: FollowedFile, text: string, position: number, now: string): void {
    const assembler = file.assembler;
    for (let line of text.split("\n")) {
      const bytes = Buffer.byteLength(line) + 1;
      if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
      file.emitted = false;
      assembler.push(line, now, position);
      if (file.emitted) file.heldFrom = null;
      else if (file.heldFrom === null && line.trim().length > 0) file.heldFrom = position;
      position += bytes;
    }
    flushText(file);
  }

  /**
   * End of a read step for a text file: the entry held for continuation lines is emitted, so nothing read is
   * held any more (a JSON assembler has no such entry: its hold lasts until the record's closing line).
   */
  function flushText(file: FollowedFile): void {
    if (file.format !== "text") return;
    file.assembler.flush();
    file.heldFrom = null;
  }

  /** Starts reading the next chunk after the file's offset; null when there is nothing new. */
  function requestChunk(
    file: FollowedFile,
    length = READ_CHUNK_BYTES,
  ): { start: number; length: number; bytes: Promise<Uint8Array | null> } | null {
    if (!file.ready) return null;
    const size = fstatSync(file.fd as number).size;
    if (size < file.offset) {
      log("info", `${file.path} was truncated; reading it again from the start`);
      counters.truncationsSeen++;
      copies.emptied(file.identity, { path: file.path, offset: file.offset, head: file.head }, Date.now());
      file.head = new Uint8Array(0);
      file.offset = 0;
      file.skippingLongLine = false;
      file.assembler.flush();
      file.heldFrom = null;
      // Its new lines wait for the next scan, which reads the rest of its copy (if it has one) first.
      file.ready = false;
      void scan();
      return null;
    }
    rememberHead(file);
    if (size === file.offset) return null;
    const start = file.offset;
    return { start, length, bytes: readSlice(file, start, Math.min(size, start + length)) };
  }

  /**
   * Reads everything appended so far. The next chunk is requested before the current one is parsed, so the
   * read overlaps the CPU work; only one read is in flight per descriptor.
   */
  async function drain(file: FollowedFile): Promise<void> {
    if (stopped) return;
    if (file.fd === null && !openDescriptor(file)) {
      void scan(); // the name now points elsewhere: let the directory listing sort out who is who
      return;
    }
    let next = requestChunk(file);
    while (next !== null && !stopped) {
      const bytes = await next.bytes;
      // stop() closed the descriptors meanwhile: its number may already name another file.
      if (stopped || bytes === null || bytes.length === 0) break;
      if (next.start !== file.offset) {
        next = requestChunk(file); // truncated while reading: that read is stale
        continue;
      }
      const full = bytes.length === next.length;
      if (full && next.length < MAX_LINE_BYTES && !file.skippingLongLine && bytes.lastIndexOf(10) === -1) {
        next = requestChunk(file, MAX_LINE_BYTES); // a long line: read up to the limit before cutting it
        continue;
      }
      const length = consumableLength(file, bytes, full);
      if (length === 0) break; // a half-written line: wait for its newline
      file.offset += length;
      file.lastActivity = Date.now();
      markHot(file);
      positionsChanged();
      next = requestChunk(file);
      file.stepStart = file.offset - length;
      consumeLines(file, length === bytes.length ? bytes : bytes.subarray(0, length));
      // Awaited only when the callback asks to wait: this is the hot path.
      const backpressure = batchEnd();
      if (backpressure !== undefined) await backpressure;
      // This file ran far ahead of its twin file (a catch-up): let the other one catch up first.
      while (twins?.mustPause(file.format) === true && !stopped) await twins.room(file.format);
    }
    flushText(file);
    await endBatch();
  }

  let hotTimer: ReturnType<typeof setInterval> | null = null;

  function markHot(file: FollowedFile) {
    file.hotUntil = file.lastActivity + HOT_WINDOW_MS;
    startHotTimer();
  }

  function startHotTimer() {
    if (hotTimer !== null || stopped) return;
    hotTimer = setInterval(checkHotFiles, HOT_POLL_MS);
    hotTimer.unref?.();
  }

  function checkHotFiles() {
    const now = Date.now();
    let anyHot = false;
    for (const file of files.values()) {
      if (file.hotUntil < now || file.fd === null) continue;
      anyHot = true;
      if (file.reading === null && fstatSync(file.fd).size !== file.offset) void pump(file);
    }
    // Copies waiting for a twin that will not come are let through here, once their wait is over.
    if (twins !== null && twins.held() > 0) {
      anyHot = true;
      if (twins.release() > 0) {
        // What was held is let through: saved positions may now move past it.
        positionsChanged();
        void endBatch();
      }
    }
    if (!anyHot && hotTimer !== null) {
      clearInterval(hotTimer);
      hotTimer = null;
    }
  }

  function positionsChanged() {
    positionsDirty = true;
    if (saveTimer !== null || options.positions === undefined || stopped) return;
    saveTimer = setTimeout(() => {
      saveTimer = null;
      savePositions();
    }, options.positionSaveIntervalMs ?? 1000);
    saveTimer.unref?.();
  }

  function savePositions() {
    if (options.positions === undefined || !positionsDirty) return;
    positionsDirty = false;
    const held = twins?.heldPositions() ?? null;
    try {
      options.positions.save(
        [...files.values()].map((f) => ({
          identity: f.identity,
          path: f.path,
          offset: Math.min(f.offset, held?.get(f.identity) ?? f.offset),
        })),
      );
    } catch (error) {
      log("warn", `cannot save follower positions: ${String(error)}`);
    }
  }

  /** Reads a file until it has nothing new; concurrent calls fold into one more pass. */
  function pump(file: FollowedFile): Promise<void> {
    if (file.reading !== null) {
      file.readAgain = true;
      return file.reading;
    }
    const run = async () => {
      try {
        do {
          file.readAgain = false;
          await drain(file);
        } while (file.readAgain && !stopped);
      } catch (error) {
        log("error", `reading ${file.path} failed: ${String(error)}`);
      } finally {
        file.reading = null;
      }
    };
    file.reading = run();
    return file.reading;
  }

  async function forget(file: FollowedFile): Promise<void> {
    // Deleted (or no longer a log file): read what is left through the open descriptor, then let go.
    file.ready = true;
    if (file.fd !== null) await pump(file);
    closeDescriptor(file);
    files.delete(file.identity);
    await endBatch();
  }

  async function scanOnce(): Promise<void> {
    const listing = listDirectory();
    if (listing === null) {
      setDirectoryExists(false);
      for (const file of [...files.values()]) await forget(file);
      identityByPath.clear();
      firstScanDone = true;
      return;
    }
    setDirectoryExists(true);
    const fromEnd = !firstScanDone;
    firstScanDone = true;
    const present = new Map(listing.map((entry) => [entry.identity, entry]));
    identityByPath.clear();
    for (const entry of listing) identityByPath.set(entry.path, entry.identity);

    // Known files first (a rotated file's rest comes before its successor), then new ones; a copy's rest
    // before the new lines of its emptied original.
    const known: FollowedFile[] = [];
    const held: FollowedFile[] = [];
    for (const file of [...files.values()]) {
      if (!file.ready) held.push(file);
      const entry = present.get(file.identity);
      if (entry === undefined) {
        await forget(file);
        continue;
      }
      if (entry.path !== file.path) {
        counters.rotationsSeen++;
        file.path = entry.path;
      }
      present.delete(file.identity);
      if (entry.size !== file.offset) known.push(file);
      else if (file.fd !== null && Date.now() - file.lastActivity > IDLE_DESCRIPTOR_MS) closeDescriptor(file);
    }
    const added: Array<{ file: FollowedFile; size: number }> = [];
    const copied: FollowedFile[] = [];
    let sources: CopySource[] | undefined;
    for (const entry of present.values()) {
      sources ??= fromEnd ? [] : copySources(files.values(), listing);
      const offset = startOffset(entry, fromEnd, sources);
      if (offset === null) continue; // maybe a copy whose original is not emptied yet: seen again next pass
      const file = follow(entry, offset);
      if (fromEnd || offset === 0) added.push({ file, size: entry.size });
      else {
        log("info", `${entry.path} is a copy of a followed file; reading it from byte ${offset}`);
        copied.push(file);
      }
    }
    // The new files' starting positions count as progress: a writer taking over must not follow them from
    // their end again.
    if (added.length + copied.length > 0) await endBatch();
    for (const file of copied) {
      file.ready = true;
      await pump(file);
    }
    for (const file of held) file.ready = true;
    for (const file of known) await pump(file);
    for (const { file, size } of added) {
      file.ready = true;
      if (file.offset < size) await pump(file);
    }
  }

  /** One directory pass at a time; requests during a pass fold into one more pass after it. */
  function scan(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (scanning !== null) {
      scanAgain = true;
      return scanning;
    }
    const run = async () => {
      try {
        do {
          scanAgain = false;
          await scanOnce();
        } while (scanAgain && !stopped);
      } catch (error) {
        log("error", `scanning ${dir} failed: ${String(error)}`);
      } finally {
        scanning = null;
      }
    };
    scanning = run();
    return scanning;
  }

  return {
    async start() {
      if (started) return;
      started = true;
      pollTimer = setInterval(() => void scan(), options.pollIntervalMs);
      pollTimer.unref?.();

      await scan();
    },
    stop() {
      stopped = true;
      if (pollTimer !== null) clearInterval(pollTimer);
      if (saveTimer !== null) clearTimeout(saveTimer);
      if (hotTimer !== null) clearInterval(hotTimer);
      stopWatcher();
      // Always at stop: entries let through since the last save move the positions without a read.
      positionsDirty = true;
      savePositions();
      for (const file of files.values()) closeDescriptor(file);
    },
    directoryExists: () => dirExists,
    stats() {
      return {
        directoryExists: dirExists,
        files: [...files.values()].map((f) => ({ path: f.path, offset: f.offset, format: f.format })),
        ...counters,
        entries: { text: { ...entries.text }, json: { ...entries.json } },
        twins: twins?.stats() ?? null,
      };
    },
    positions: () => {
      const held = twins?.heldPositions() ?? null;
      return [...files.values()].map((f) => ({
        identity: f.identity,
        path: f.path,
        offset: resumeOffset(f, held),
      }));
    },
  };
}
