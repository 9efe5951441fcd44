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

import {
  closeSync,
  constants,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { EPOCH, formatCursor, parseCursor } from "../stream/cursor.ts";

export interface JournalOptions {
  dir: string;
  /** A segment is closed once it holds this many bytes. */
  segmentBytes: number;
  /** Oldest segments are deleted while the total exceeds this. */
  maxBytes: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

export interface Segment {
  firstSeq: number;
  path: string;
  bytes: number;
  /** Number of entries; the next segment starts at firstSeq + count. */
  count: number;
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

export interface Journal {
  readonly epoch: string;
  /** The cursor the next appended entry will get. */
  nextCursor(): string;
  /** Appends one serialised entry (which already contains its cursor from nextCursor()). */
  append(json: string): void;
  /** Writes buffered entries; called at the end of every synchronous batch of appends. */
  flush(): void;
  /** Entries appended and not written yet, the first with seq `seq` (readers serve them from memory). */
  unwritten(): { seq: number; lines: readonly string[] };
  /** Seq the next entry will get (one past the newest). */
  endSeq(): number;
  /** Seq of the oldest retained entry. */
  startSeq(): number;
  parseCursor(cursor: string): ParsedCursor;
  cursorOf(seq: number): string;
  segments(): readonly Segment[];
  /** Whether writing works, for `/health`. */
  stats(): JournalStats;
  /**
   * Drops every entry and continues as `epoch`, the next entry getting seq `startSeq` (cluster mode: adopting
   * the shared stream's epoch, or moving past entries the stream no longer holds).
   */
  reset(epoch: string, startSeq: number): void;
  close(): void;
}

const SEQ_DIGITS = 16;
const SEGMENT_NAME = /^([0-9a-f]{16})\.jsonl$/;
/** Buffered bytes that force a write even inside a batch, bounding the buffer. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/**
 * Entries (in UTF-16 units) kept in memory while the journal cannot be written (a full disk): seconds of a busy
 * stream, and a couple of the longest entries. Past it they are given up and readers report them as a gap.
 */
const MAX_UNWRITTEN_BYTES = 16 * 1024 * 1024;
/** While writes fail they are retried after this, doubling up to RETRY_MAX_MS (not at every batch end). */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;

function segmentName(firstSeq: number): string {
  return `${firstSeq.toString(16).padStart(SEQ_DIGITS, "0")}.jsonl`;
}

/** Counts lines of a segment and cuts a torn last line (a crash mid-write) so every line is whole. */
function recoverSegment(path: string): { bytes: number; count: number } {
  const data = readFileSync(path);
  let count = 0;
  let lastNewline = -1;
  for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) {
    count++;
    lastNewline = i;
  }
  const bytes = lastNewline + 1;
  if (bytes !== data.length) writeFileSync(path, data.subarray(0, bytes));
  return { bytes, count };
}

export function openJournal(options: JournalOptions): Journal {
  const { dir, log } = options;
  mkdirSync(dir, { recursive: true });
  const epochFile = join(dir, "epoch");
  let epoch: string;
  if (existsSync(epochFile)) epoch = readFileSync(epochFile, "utf8").trim();
  else {
    epoch = crypto.randomUUID().slice(0, 8);
    writeFileSync(epochFile, `${epoch}\n`);
  }
  if (!EPOCH.test(epoch)) throw new Error(`journal epoch file ${epochFile} is corrupt`);

  const segments: Segment[] = readdirSync(dir)
    .map((name) => SEGMENT_NAME.exec(name))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({
      firstSeq: Number.parseInt(match[1] as string, 16),
      path: join(dir, match[0]),
      bytes: 0,
      count: 0,
    }))
    .sort((a, b) => a.firstSeq - b.firstSeq);
  for (const segment of segments) Object.assign(segment, recoverSegment(segment.path));

  let current = segments.at(-1);
  if (current === undefined) {
    current = { firstSeq: 1, path: join(dir, segmentName(1)), bytes: 0, count: 0 };
    writeFileSync(current.path, "");
    segments.push(current);
  }
  /** The current segment's descriptor, opened on its first write (writes are positioned: see write()). */
  let fd: number | null = null;
  let totalBytes = segments.reduce((sum, s) => sum + s.bytes, 0);
  let buffer: string[] = [];
  let bufferedBytes = 0;
  let bufferedCount = 0;
  const failure = {
    writeFailures: 0,
    notJournaled: 0,
    /** When writing started failing; null while writes succeed. */
    since: null as number | null,
    notJournaledSince: 0,
    retryDelayMs: 0,
    nextAttemptAt: 0,
    retryTimer: null as ReturnType<typeof setTimeout> | null,
    /** A failed write may have left part of a batch past the segment's end. */
    tornTail: false,
  };

  const endSeq = () => (current as Segment).firstSeq + (current as Segment).count + bufferedCount;
  const cursorOf = (seq: number) => formatCursor(epoch, seq);

  const closeDescriptor = () => {
    if (fd !== null) closeSync(fd);
    fd = null;
  };

  const deleteSegment = (segment: Segment) => {
    try {
      unlinkSync(segment.path);
    } catch (error) {
      log("warn", `cannot delete journal segment ${segment.path}: ${String(error)}`);
    }
  };

  const enforceRetention = () => {
    while (totalBytes > options.maxBytes && segments.length > 1) {
      const oldest = segments.shift() as Segment;
      totalBytes -= oldest.bytes;
      deleteSegment(oldest);
    }
  };

  /** Starts a segment at `firstSeq`: its file is created now, so a restart never hands out its seqs again. */
  const startSegment = (firstSeq: number) => {
    closeDescriptor();
    const next: Segment = { firstSeq, path: join(dir, segmentName(firstSeq)), bytes: 0, count: 0 };
    writeFileSync(next.path, "", { flag: "a" });
    segments.push(next);
    current = next;
    enforceRetention();
  };

  /**
   * Writes the buffer at the segment's end. Writes are positioned rather than appended: a disk that fills
   * mid-batch writes part of it (a short count, then ENOSPC), and what a failed batch left behind the segment's
   * end is cut or overwritten by the retry instead of becoming lines.
   */
  const write = (segment: Segment): number => {
    fd ??= openSync(segment.path, constants.O_WRONLY | constants.O_CREAT, 0o644);
    const data = `${buffer.join("\n")}\n`;
    const expected = Buffer.byteLength(data);
    let written = writeSync(fd, data, segment.bytes);
    if (written < expected) {
      const encoded = Buffer.from(data);
      while (written < expected) {
        const step = writeSync(fd, encoded, written, expected - written, segment.bytes + written);
        if (step === 0) throw new Error(`journal write to ${segment.path} made no progress`);
        written += step;
      }
    }
    if (failure.tornTail) {
      ftruncateSync(fd, segment.bytes + written);
      failure.tornTail = false;
    }
    return written;
  };

  const scheduleRetry = () => {
    if (failure.retryTimer !== null) return;
    failure.retryTimer = setTimeout(() => {
      failure.retryTimer = null;
      flush();
    }, failure.retryDelayMs);
    failure.retryTimer.unref?.();
  };

  const onWriteFailed = (segment: Segment, error: unknown) => {
    failure.writeFailures++;
    failure.tornTail = true;
    try {
      if (fd !== null) ftruncateSync(fd, segment.bytes);
      failure.tornTail = false;
    } catch {
      // Left for the next write that succeeds (see write()).
    }
    const now = Date.now();
    if (failure.since === null) {
      failure.since = now;
      failure.notJournaledSince = failure.notJournaled;
      failure.retryDelayMs = RETRY_FIRST_MS;
      log(
        "error",
        `cannot write the journal (${String(error)}): entries stay in memory (up to ${MAX_UNWRITTEN_BYTES} bytes) and writing is retried, backing off to every ${RETRY_MAX_MS} ms`,
      );
    } else failure.retryDelayMs = Math.min(failure.retryDelayMs * 2, RETRY_MAX_MS);
    failure.nextAttemptAt = now + failure.retryDelayMs;
    scheduleRetry();
  };

  const onWriteRecovered = (since: number) => {
    failure.since = null;
    const lost = failure.notJournaled - failure.notJournaledSince;
    log(
      "info",
      `the journal is written again after ${Date.now() - since} ms; ${lost} entries could not be journaled (clients resuming across them are told the gap)`,
    );
  };

  /**
   * Past MAX_UNWRITTEN_BYTES the entries waiting in memory are given up: their seqs become a hole between
   * segments, which readers report as a gap. A zero-entry segment left by an earlier hole just moves on.
   */
  const dropUnwritten = () => {
    failure.notJournaled += bufferedCount;
    const next = endSeq();
    buffer = [];
    bufferedBytes = 0;
    bufferedCount = 0;
    const segment = current as Segment;
    try {
      if (segment.count === 0 && segments.length > 1) {
        segments.pop();
        closeDescriptor();
        deleteSegment(segment);
      }
      startSegment(next);
    } catch (error) {
      // The hole must survive: its seqs were handed out. Kept in memory; the file comes with the next write.
      log("warn", `cannot create journal segment ${segmentName(next)}: ${String(error)}`);
      current = { firstSeq: next, path: join(dir, segmentName(next)), bytes: 0, count: 0 };
      segments.push(current);
    }
  };

  const flush = (force = false) => {
    if (bufferedCount === 0) return;
    const since = failure.since;
    if (since !== null && !force && Date.now() < failure.nextAttemptAt) {
      if (bufferedBytes > MAX_UNWRITTEN_BYTES) dropUnwritten();
      return;
    }
    const segment = current as Segment;
    let bytes: number;
    try {
      bytes = write(segment);
    } catch (error) {
      onWriteFailed(segment, error);
      if (bufferedBytes > MAX_UNWRITTEN_BYTES) dropUnwritten();
      return;
    }
    segment.bytes += bytes;
    segment.count += bufferedCount;
    totalBytes += bytes;
    buffer = [];
    bufferedBytes = 0;
    bufferedCount = 0;
    if (since !== null) onWriteRecovered(since);
    if (segment.bytes < options.segmentBytes) return;
    try {
      startSegment(segment.firstSeq + segment.count);
    } catch (error) {
      // The full segment keeps growing until a new one can be created.
      log("warn", `cannot start a journal segment: ${String(error)}`);
    }
  };

  return {
    get epoch() {
      return epoch;
    },
    nextCursor: () => cursorOf(endSeq()),
    append(json) {
      buffer.push(json);
      bufferedBytes += json.length + 1;
      bufferedCount++;
      if (bufferedBytes >= MAX_BUFFERED_BYTES) flush();
    },
    flush: () => flush(),
    unwritten: () => ({ seq: endSeq() - bufferedCount, lines: buffer }),
    endSeq,
    startSeq: () => (segments[0] as Segment).firstSeq,
    parseCursor(cursor) {
      const parsed = parseCursor(epoch, cursor);
      return parsed.kind === "valid" ? { kind: "valid", seq: parsed.position } : parsed;
    },
    cursorOf,
    segments: () => segments,
    reset(nextEpoch, startSeq) {
      if (!EPOCH.test(nextEpoch)) throw new Error(`not a journal epoch: ${nextEpoch}`);
      buffer = [];
      bufferedBytes = 0;
      bufferedCount = 0;
      closeDescriptor();
      // Emptied in place: a reader holding the array sees its segment gone (RetentionGap).
      for (const segment of segments.splice(0)) deleteSegment(segment);
      totalBytes = 0;
      current = { firstSeq: startSeq, path: join(dir, segmentName(startSeq)), bytes: 0, count: 0 };
      writeFileSync(current.path, "");
      segments.push(current);
      // The epoch last: a crash before it leaves the old epoch, which the next start resets again.
      writeFileSync(`${epochFile}.tmp`, `${nextEpoch}\n`);
      renameSync(`${epochFile}.tmp`, epochFile);
      epoch = nextEpoch;
    },
    stats: () => ({
      writing: failure.since === null,
      writeFailures: failure.writeFailures,
      unwritten: bufferedCount,
      notJournaled: failure.notJournaled,
    }),
    close() {
      // One last attempt, whatever the backoff; a failure schedules a retry that must not outlive the journal.
      flush(true);
      if (failure.retryTimer !== null) clearTimeout(failure.retryTimer);
      failure.retryTimer = null;
      if (bufferedCount > 0) log("error", `${bufferedCount} entries could not be journaled before shutdown`);
      closeDescriptor();
    },
  };
}
