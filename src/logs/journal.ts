/**
 * The journal: hookstream's own append-only record of every entry it streamed, in the order it streamed them,
 * as the exact JSON sent. Its position is the entry's cursor, which gives one total order across all log files
 * and lets a client resume, backfill or catch up at its own pace — also after a restart.
 *
 * Layout: `<dir>/<first seq, 16 hex digits>.jsonl` segments, one entry per line; the n-th line of a segment
 * is seq `first + n`. Writes are batched and flushed synchronously at the end of each batch, so between two
 * event-loop turns everything published is on disk (in the page cache) and a reader that reaches the end of
 * the file has seen everything. Retention is by total size: the oldest segments are deleted.
 *
 * Cursor: `<epoch>-<seq hex>`; the epoch is random per journal, so a cursor from a deleted or foreign journal
 * is recognised as unknown instead of pointing at unrelated entries. In cluster mode every instance's journal
 * mirrors the shared stream: it adopts the cluster's epoch and seqs (`reset`), so a cursor means the same entry
 * on every instance.
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { EPOCH, formatCursor, parseCursor } from "../stream/cursor.ts";
import { createWrittenBatches, type WrittenBatch, type WrittenBatches } from "./journal-batches.ts";
import { createWriteFailures, type WriteFailures } from "./journal-failures.ts";
import {
  createSegmentWriter,
  deleteSegment,
  loadSegments,
  readEpoch,
  type Segment,
  type SegmentWriter,
  segmentName,
  writeEpoch,
} from "./journal-segments.ts";
import { createLineEncoder, type LineEncoder } from "./line-encoder.ts";

export type { Segment } from "./journal-segments.ts";

export interface JournalOptions {
  dir: string;
  /** A segment is closed once it holds this many bytes. */
  segmentBytes: number;
  /** Oldest segments are deleted while the total exceeds this. */
  maxBytes: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

export interface JournalPosition {
  /** Seq of the next entry to read. */
  seq: number;
}

export interface JournalStats {
  /** False while writes fail (entries wait in memory, see MAX_UNWRITTEN_BYTES). */
  writing: boolean;
  /** Failed write attempts since start. */
  writeFailures: number;
  /** Entries appended and not written yet. */
  unwritten: number;
  /** Entries given up because the journal could not be written for too long: gaps for resuming clients. */
  notJournaled: number;
}

export type ParsedCursor = { kind: "valid"; seq: number } | { kind: "foreign" } | { kind: "malformed" };

/**
 * The newest batch written, kept in memory: a socket that fell behind the live topic reads its last steps
 * here without waiting for the disk, so it can find itself caught up between two of the follower's reads and
 * rejoin the topic (with a file read in between, the follower always had published more by then). Bounded by
 * one batch: at most MAX_BUFFERED_BYTES, in practice one read step's entries (~0.3 MB at full rate).
 */
export interface LastWrittenBatch {
  segment: Segment;
  /** Seq of its first line. */
  seq: number;
  /** Byte offset in `segment` just past its last line. */
  endOffset: number;
  lines: readonly string[];
}

export interface Journal {
  readonly epoch: string;
  /** The cursor the next appended entry will get. */
  nextCursor(): string;
  /**
   * Appends one serialised entry (which already contains its cursor from nextCursor()). `serialised`: the
   * caller made it with serializeEntry, so it is an entry as written; a reader that gets the batch back
   * unchanged need not check its lines one by one.
   */
  append(json: string, serialised?: boolean): void;
  /** Writes buffered entries; called at the end of every synchronous batch of appends. */
  flush(): void;
  /** Entries appended and not written yet, the first with seq `seq` (readers serve them from memory). */
  unwritten(): { seq: number; lines: readonly string[] };
  /**
   * The newest written batch when it holds serialised entries only, its lines as appended (readers near the
   * newest entry serve them from memory); null otherwise, before the first write and after a reset.
   */
  lastWritten(): LastWrittenBatch | null;
  /** Seq the next entry will get (one past the newest). */
  endSeq(): number;
  /** Seq of the oldest retained entry. */
  startSeq(): number;
  parseCursor(cursor: string): ParsedCursor;
  cursorOf(seq: number): string;
  segments(): readonly Segment[];
  /**
   * A known line start at or before `seq` in `segment`: where the newest batches began, so a reader near the
   * newest entry need not count lines from the segment's start; the segment's start when none is known.
   */
  lineStart(segment: Segment, seq: number): { seq: number; offset: number };
  /** Newest written batches wholly within bytes [from, to) of `segment`, for a read from line `seq` on. */
  writtenBatches(segment: Segment, seq: number, from: number, to: number): readonly WrittenBatch[];
  /** Whether writing works, for `/health`. */
  stats(): JournalStats;
  /**
   * Drops every entry and continues as `epoch`, the next entry getting seq `startSeq` (cluster mode: adopting
   * the shared stream's epoch, or moving past entries the stream no longer holds).
   */
  reset(epoch: string, startSeq: number): void;
  close(): void;
}

/** Buffered bytes that force a write even inside a batch, bounding the buffer. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/**
 * Entries (in UTF-16 units) kept in memory while the journal cannot be written (a full disk): seconds of a busy
 * stream, and a couple of the longest entries. Past it they are given up and readers report them as a gap.
 */
export const MAX_UNWRITTEN_BYTES = 16 * 1024 * 1024;

/** The journal's mutable state, shared by the steps below. */
interface JournalState {
  options: JournalOptions;
  epoch: string;
  /** Oldest first; emptied in place by a reset, so a reader holding the array sees its segment gone. */
  segments: Segment[];
  current: Segment;
  totalBytes: number;
  writer: SegmentWriter;
  encoder: LineEncoder;
  buffer: string[];
  bufferedBytes: number;
  bufferedCount: number;
  /** Every buffered line was appended as a serialised entry. */
  bufferSerialised: boolean;
  /** A failed write may have left part of a batch past the segment's end. */
  tornTail: boolean;
  failures: WriteFailures;
  batches: WrittenBatches;
  lastWritten: LastWrittenBatch | null;
}

const endSeqOf = (state: JournalState) => state.current.firstSeq + state.current.count + state.bufferedCount;

const clearBuffer = (state: JournalState) => {
  state.bufferSerialised = true;
  state.buffer = [];
  state.bufferedBytes = 0;
  state.bufferedCount = 0;
};

function enforceRetention(state: JournalState): void {
  while (state.totalBytes > state.options.maxBytes && state.segments.length > 1) {
    const oldest = state.segments.shift() as Segment;
    state.totalBytes -= oldest.bytes;
    deleteSegment(oldest, state.options.log);
  }
}

/** Starts a segment at `firstSeq`: its file is created now, so a restart never hands out its seqs again. */
function startSegment(state: JournalState, firstSeq: number): void {
  state.writer.close();
  const next: Segment = {
    firstSeq,
    path: join(state.options.dir, segmentName(firstSeq)),
    bytes: 0,
    count: 0,
  };
  writeFileSync(next.path, "", { flag: "a" });
  state.segments.push(next);
  state.current = next;
  enforceRetention(state);
}

/**
 * Past MAX_UNWRITTEN_BYTES the entries waiting in memory are given up: their seqs become a hole between
 * segments, which readers report as a gap. A zero-entry segment left by an earlier hole just moves on.
 */
function dropUnwritten(state: JournalState): void {
  state.failures.gaveUp(state.bufferedCount);
  const next = endSeqOf(state);
  clearBuffer(state);
  const segment = state.current;
  try {
    if (segment.count === 0 && state.segments.length > 1) {
      state.segments.pop();
      state.writer.close();
      deleteSegment(segment, state.options.log);
    }
    startSegment(state, next);
  } catch (error) {
    // The hole must survive: its seqs were handed out. Kept in memory; the file comes with the next write.
    state.options.log("warn", `cannot create journal segment ${segmentName(next)}: ${String(error)}`);
    state.current = { firstSeq: next, path: join(state.options.dir, segmentName(next)), bytes: 0, count: 0 };
    state.segments.push(state.current);
  }
}

/** Writes what is buffered; on failure it stays in memory up to MAX_UNWRITTEN_BYTES and is retried later. */
function flushJournal(state: JournalState, force: boolean): void {
  if (state.bufferedCount === 0) return;
  if (state.failures.backingOff(force)) {
    if (state.bufferedBytes > MAX_UNWRITTEN_BYTES) dropUnwritten(state);
    return;
  }
  const segment = state.current;
  // Encoded once: the same bytes are written and checksummed (and not kept: the encoder reuses them).
  const data = state.encoder.encode(state.buffer);
  let bytes: number;
  try {
    bytes = state.writer.write(segment, data, state.tornTail);
    state.tornTail = false;
  } catch (error) {
    state.tornTail = true;
    try {
      state.writer.cutTail(segment);
      state.tornTail = false;
    } catch {
      // Left for the next write that succeeds (see SegmentWriter.write).
    }
    state.failures.failed(error);
    if (state.bufferedBytes > MAX_UNWRITTEN_BYTES) dropUnwritten(state);
    return;
  }
  state.batches.remember(segment, segment.firstSeq + segment.count, {
    offset: segment.bytes,
    length: bytes,
    checksum: state.bufferSerialised ? Bun.hash.crc32(data) : null,
  });
  // Only serialised entries: other lines are checked one by one when read (a line that is no entry is a gap).
  state.lastWritten = state.bufferSerialised
    ? {
        segment,
        seq: segment.firstSeq + segment.count,
        endOffset: segment.bytes + bytes,
        lines: state.buffer,
      }
    : null;
  segment.bytes += bytes;
  segment.count += state.bufferedCount;
  state.totalBytes += bytes;
  clearBuffer(state);
  state.failures.succeeded();
  if (segment.bytes < state.options.segmentBytes) return;
  try {
    startSegment(state, segment.firstSeq + segment.count);
  } catch (error) {
    // The full segment keeps growing until a new one can be created.
    state.options.log("warn", `cannot start a journal segment: ${String(error)}`);
  }
}

/** Drops every entry and continues as `epoch` from `startSeq` (see Journal.reset). */
function resetJournal(state: JournalState, epoch: string, startSeq: number): void {
  if (!EPOCH.test(epoch)) throw new Error(`not a journal epoch: ${epoch}`);
  clearBuffer(state);
  state.batches.clear();
  state.lastWritten = null;
  state.writer.close();
  for (const segment of state.segments.splice(0)) deleteSegment(segment, state.options.log);
  state.totalBytes = 0;
  state.current = {
    firstSeq: startSeq,
    path: join(state.options.dir, segmentName(startSeq)),
    bytes: 0,
    count: 0,
  };
  writeFileSync(state.current.path, "");
  state.segments.push(state.current);
  // The epoch last: a crash before it leaves the old epoch, which the next start resets again.
  writeEpoch(state.options.dir, epoch);
  state.epoch = epoch;
}

export function openJournal(options: JournalOptions): Journal {
  const segments = loadSegments(options.dir);
  const state: JournalState = {
    options,
    epoch: readEpoch(options.dir),
    segments,
    current: segments.at(-1) as Segment,
    totalBytes: segments.reduce((sum, s) => sum + s.bytes, 0),
    writer: createSegmentWriter(),
    encoder: createLineEncoder(),
    buffer: [],
    bufferedBytes: 0,
    bufferedCount: 0,
    bufferSerialised: true,
    tornTail: false,
    batches: createWrittenBatches(),
    lastWritten: null,
    failures: createWriteFailures({
      log: options.log,
      // Forced: the timer is the backoff's own attempt, and it may fire a little before the backoff's end as
      // Date.now() measures it; unforced, that attempt would be skipped and none scheduled after it.
      retry: () => flushJournal(state, true),
      maxUnwrittenBytes: MAX_UNWRITTEN_BYTES,
    }),
  };
  const endSeq = () => endSeqOf(state);
  const cursorOf = (seq: number) => formatCursor(state.epoch, seq);
  return {
    get epoch() {
      return state.epoch;
    },
    nextCursor: () => cursorOf(endSeq()),
    append(json, serialised = false) {
      if (!serialised) state.bufferSerialised = false;
      state.buffer.push(json);
      state.bufferedBytes += json.length + 1;
      state.bufferedCount++;
      if (state.bufferedBytes >= MAX_BUFFERED_BYTES) flushJournal(state, false);
    },
    flush: () => flushJournal(state, false),
    unwritten: () => ({ seq: endSeq() - state.bufferedCount, lines: state.buffer }),
    lastWritten: () => state.lastWritten,
    endSeq,
    startSeq: () => (state.segments[0] as Segment).firstSeq,
    parseCursor(cursor) {
      const parsed = parseCursor(state.epoch, cursor);
      return parsed.kind === "valid" ? { kind: "valid", seq: parsed.position } : parsed;
    },
    cursorOf,
    segments: () => state.segments,
    lineStart: (segment, seq) => state.batches.lineStart(segment, seq),
    writtenBatches: (segment, seq, from, to) => state.batches.within(segment, seq, from, to),
    reset: (epoch, startSeq) => resetJournal(state, epoch, startSeq),
    stats: () => ({ ...state.failures.stats(), unwritten: state.bufferedCount }),
    close() {
      // One last attempt, whatever the backoff; a failure schedules a retry that must not outlive the journal.
      flushJournal(state, true);
      state.failures.close();
      if (state.bufferedCount > 0)
        options.log("error", `${state.bufferedCount} entries could not be journaled before shutdown`);
      state.writer.close();
    },
  };
}
