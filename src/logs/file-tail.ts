/**
 * One followed file: its descriptor, how far it is read, the bounded read steps that hand whole lines to its
 * assembler, and (with exact positions) where a reader must start again to get exactly what was not emitted.
 *
 * - Reads go through an open descriptor (`Bun.file(fd).slice`), so the bytes read always belong to the file
 *   whose position we hold, even if the name was reused in between.
 * - Reads are bounded chunks and only whole lines are consumed: a half-written line waits for its newline,
 *   a line longer than the chunk is cut (marked `truncated`) and the rest of it skipped.
 * - A size below our position means copy-truncate: the file is read again from 0 once the next directory
 *   pass has read the rest of its copy, if it has one (copy-truncate.ts).
 */
import { closeSync, fstatSync, readSync, statSync } from "node:fs";
import { yieldToEventLoop } from "../process/event-loop.ts";
import { createLineAssembler, type LineAssembler } from "./assemble.ts";
import { COPY_HEAD_BYTES, type CopyTracker, readHead, readHeadOf } from "./copy-truncate.ts";
import type { LogEntry } from "./entry.ts";
import type { LogFileAccess, LogFileEntry } from "./file-access.ts";
import { formatOfFile, type LogFormat, type ParseOptions } from "./parse.ts";
import { consumableLength, consumeLines, flushText } from "./read-step.ts";
import type { TwinWindow } from "./twins.ts";

/**
 * Bytes read per step. Every string and buffer a step makes is about this size (the bytes' text, the
 * journal's batch; the bytes go into the file's two read buffers): kept well under 128 KiB, they are reused
 * by the allocator at once instead of piling up.
 * Peak RSS of a 300,000-line burst with no client: 256 KiB steps 134–147 MB, 128 KiB 127, 64 KiB 104–107,
 * 32 KiB 96–100, at the same or lower CPU per line. A step this size is also a positioned readSync.
 */
export const READ_CHUNK_BYTES = 32 * 1024;
/** The longest line kept whole: a step without a newline is read again this long before the line is cut. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Appends up to this size are read with a positioned readSync (about 1 µs) instead of an async slice. */
const SMALL_READ_BYTES = 64 * 1024;
/**
 * Positioned reads from this size on, after a drain's first step, go into the file's two read buffers
 * (FollowedFile.readBuffers). A smaller one, a trickle's line or two, and a drain's first step get a buffer
 * of their own size: a file appended to in pieces is read in one step per append (every 1 ms at 50,000
 * lines/s), and two 64 KiB buffers allocated and zeroed for each of those steps cost more than the step.
 */
const REUSED_FROM_BYTES = 4 * 1024;
/**
 * A burst read in synchronous steps lets the event loop turn (timers, drains, requests) after this many bytes,
 * a millisecond or so of work: without it the whole burst would be read in one turn. The pace the 256 KiB
 * asynchronous reads had; a turn after every 32 KiB step also changed which of a stalled client's bytes
 * were still queued in Bun when it was closed (tests/logs/logs-slow.test.ts).
 */
const TURN_EVERY_BYTES = 256 * 1024;

export interface EntryCounts {
  read: number;
  unparsed: number;
}

export interface FollowedFile {
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
  /** Until when the file is re-checked by the hot-file poll (it grew recently). */
  hotUntil: number;
  /**
   * Stopped reading because the pairing window is full of its copies (a catch-up that ran ahead of the twin
   * file): the hot poll reads it again once the window has room. Its unread bytes may hold twins.
   */
  paused: boolean;
  /** With exactPositions: byte offset of the first line the assembler still holds, if any. */
  heldFrom: number | null;
  /** File offset of the read step being parsed: where its entries are read again from after a restart. */
  stepStart: number;
  /**
   * The two buffers a drain's larger positioned reads alternate between (the next step is read before the
   * current one is parsed), allocated at the drain's second step and dropped when it ends: a burst reads
   * into the same 128 KiB instead of leaving a new 32 KiB buffer for the collector at every step (peak RSS of
   * the max-rate bench, the client keeping up: 99–100 → 94–97 MB).
   */
  readBuffers: [Uint8Array, Uint8Array] | null;
  /** Which of readBuffers the next positioned read fills. */
  nextReadBuffer: 0 | 1;
}

export interface TailerOptions {
  access: LogFileAccess;
  copies: CopyTracker;
  parse: ParseOptions;
  /** See FollowerOptions.exactPositions. */
  exact: boolean;
  emit: (entry: LogEntry) => void;
  /** The pairing window entries go through, or null to emit them as read. */
  twins: TwinWindow | null;
  counters: { linesTruncated: number; truncationsSeen: number };
  entries: Record<LogFormat, EntryCounts>;
  log: (level: "info" | "warn" | "error", message: string) => void;
  stopped(): boolean;
  /** The follower's batch end; a returned promise holds the reading of the file until it settles. */
  batchEnd(): void | Promise<void>;
  /** batchEnd, waiting when it asks to. */
  endBatch(): Promise<void>;
  /** Bytes of the file were consumed: it may grow again soon, and the positions moved. */
  progressed(file: FollowedFile): void;
  /** The file was truncated, or its name leads elsewhere now: the directory listing sorts out who is who. */
  rescan(): void;
}

export interface Tailer {
  /** A file to follow from `offset`; not ready until the directory pass that found it says so. */
  create(entry: LogFileEntry, offset: number): FollowedFile;
  /** Reads a file until it has nothing new; concurrent calls fold into one more pass. */
  pump(file: FollowedFile): Promise<void>;
  closeDescriptor(file: FollowedFile): void;
}

/**
 * Where a file must be read again from so that nothing held or half-assembled is lost: the assembler's hold,
 * else the read offset, and never past an entry the pairing window still holds from it (`held`).
 */
export function resumeOffset(
  file: Pick<FollowedFile, "identity" | "offset" | "heldFrom">,
  held: ReadonlyMap<string, number> | null,
): number {
  const own = file.heldFrom ?? file.offset;
  const twin = held?.get(file.identity);
  return twin === undefined ? own : Math.min(own, twin);
}

/** Whether a file of this format is being read or has grown unread (a twin may be among its bytes). */
export function formatBusy(files: Iterable<FollowedFile>, format: LogFormat): boolean {
  for (const file of files) {
    if (file.format !== format) continue;
    if (file.reading !== null || file.paused) return true;
    if (file.fd !== null && fstatSync(file.fd).size !== file.offset) return true;
    // Not opened yet (a file found by this scan, read after the ones before it): ask by path.
    if (file.fd === null && sizeByPath(file.path) > file.offset) return true;
  }
  return false;
}

function sizeByPath(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // gone: nothing more will come from it
  }
}

export function formatPresent(files: Iterable<FollowedFile>, format: LogFormat): boolean {
  for (const file of files) if (file.format === format) return true;
  return false;
}

/** A file to follow from `offset`, not ready yet; its head is remembered as far as it is read. */
function createFollowedFile(entry: LogFileEntry, offset: number, options: TailerOptions): FollowedFile {
  const { twins, exact } = options;
  const format = formatOfFile(entry.path);
  const counts = options.entries[format];
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
    paused: false,
    heldFrom: null,
    stepStart: 0,
    readBuffers: null,
    nextReadBuffer: 0,
  };
  rememberHead(options.access, file);
  return file;
}

/** Extends the remembered head to what has been read (a positioned read of at most COPY_HEAD_BYTES). */
function rememberHead(access: LogFileAccess, file: FollowedFile): void {
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
function openDescriptor(access: LogFileAccess, file: FollowedFile): boolean {
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
async function readSlice(
  access: LogFileAccess,
  file: FollowedFile,
  start: number,
  end: number,
  firstStep: boolean,
): Promise<Uint8Array | null> {
  if (end - start <= SMALL_READ_BYTES) {
    // Positioned read (pread): independent of the descriptor's own position.
    let buffer: Uint8Array;
    if (firstStep || end - start < REUSED_FROM_BYTES) buffer = new Uint8Array(end - start);
    else {
      if (file.readBuffers === null)
        file.readBuffers = [new Uint8Array(SMALL_READ_BYTES), new Uint8Array(SMALL_READ_BYTES)];
      buffer = file.readBuffers[file.nextReadBuffer];
      file.nextReadBuffer = file.nextReadBuffer === 0 ? 1 : 0;
    }
    const read = readSync(file.fd as number, buffer, 0, end - start, start);
    return buffer.subarray(0, read);
  }
  if (start === 0 && file.fdUsed) {
    closeDescriptor(file);
    if (!openDescriptor(access, file)) return null;
  }
  file.fdUsed = true;
  return await Bun.file(file.fd as number)
    .slice(start, end)
    .bytes();
}

/** A truncated file (size below its offset): read again from 0 once the next scan has read its copy's rest. */
function startOver(options: TailerOptions, file: FollowedFile): void {
  options.log("info", `${file.path} was truncated; reading it again from the start`);
  options.counters.truncationsSeen++;
  options.copies.emptied(
    file.identity,
    { path: file.path, offset: file.offset, head: file.head },
    Date.now(),
  );
  file.head = new Uint8Array(0);
  file.offset = 0;
  file.skippingLongLine = false;
  file.assembler.flush();
  file.heldFrom = null;
  // Its new lines wait for the next scan, which reads the rest of its copy (if it has one) first.
  file.ready = false;
  options.rescan();
}

export function createTailer(options: TailerOptions): Tailer {
  const { access, counters, log } = options;

  /**
   * Starts reading the next chunk after the file's offset; null when there is nothing new. `firstStep`: the
   * drain's first read, which does not take the reused buffers (see REUSED_FROM_BYTES).
   */
  function requestChunk(
    file: FollowedFile,
    length = READ_CHUNK_BYTES,
    firstStep = false,
  ): { start: number; length: number; bytes: Promise<Uint8Array | null> } | null {
    if (!file.ready) return null;
    const size = fstatSync(file.fd as number).size;
    if (size < file.offset) {
      startOver(options, file);
      return null;
    }
    rememberHead(access, file);
    if (size === file.offset) return null;
    const start = file.offset;
    const end = Math.min(size, start + length);
    return { start, length, bytes: readSlice(access, file, start, end, firstStep) };
  }

  /**
   * Reads everything appended so far. The next chunk is requested before the current one is parsed, so the
   * read overlaps the CPU work; only one read is in flight per descriptor.
   */
  async function drain(file: FollowedFile): Promise<void> {
    if (options.stopped()) return;
    if (file.fd === null && !openDescriptor(access, file)) {
      options.rescan(); // the name now points elsewhere
      return;
    }
    let next = requestChunk(file, READ_CHUNK_BYTES, true);
    let readSinceTurn = 0;
    while (next !== null && !options.stopped()) {
      const bytes = await next.bytes;
      // stop() closed the descriptors meanwhile: its number may already name another file.
      if (options.stopped() || bytes === null || bytes.length === 0) break;
      if (next.start !== file.offset) {
        next = requestChunk(file); // truncated while reading: that read is stale
        continue;
      }
      const full = bytes.length === next.length;
      if (full && next.length < MAX_LINE_BYTES && !file.skippingLongLine && bytes.lastIndexOf(10) === -1) {
        next = requestChunk(file, MAX_LINE_BYTES); // a long line: read up to the limit before cutting it
        continue;
      }
      const length = consumableLength(bytes, full, file.skippingLongLine);
      if (length === 0) break; // a half-written line: wait for its newline
      file.offset += length;
      file.lastActivity = Date.now();
      options.progressed(file);
      next = requestChunk(file);
      file.stepStart = file.offset - length;
      consumeLines(
        file,
        length === bytes.length ? bytes : bytes.subarray(0, length),
        options.exact,
        counters,
      );
      // Awaited only when the callback asks to wait: this is the hot path.
      const backpressure = options.batchEnd();
      if (backpressure !== undefined) await backpressure;
      // This file ran far ahead of its twin file (a catch-up): stop here, so the directory scan and the
      // other file go on; the hot poll reads on once the window has room (follow-schedule.ts).
      if (options.twins?.mustPause(file.format) === true) {
        file.paused = true;
        break;
      }
      readSinceTurn += length;
      if (next !== null && readSinceTurn >= TURN_EVERY_BYTES) {
        readSinceTurn = 0;
        await yieldToEventLoop();
      }
    }
    flushText(file);
    file.readBuffers = null;
    await options.endBatch();
  }

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
        } while (file.readAgain && !options.stopped());
      } catch (error) {
        log("error", `reading ${file.path} failed: ${String(error)}`);
      } finally {
        file.reading = null;
      }
    };
    file.reading = run();
    return file.reading;
  }

  return { create: (entry, offset) => createFollowedFile(entry, offset, options), pump, closeDescriptor };
}
