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
  existsSync,
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
  /**
   * Drops every entry and continues as `epoch`, the next entry getting seq `startSeq` (cluster mode: adopting
   * the shared stream's epoch, or moving past entries the stream no longer holds).
   */
  reset(epoch: string, startSeq: number): void;
  close(): void;
}

const SEQ_DIGITS = 16;
const EPOCH = /^[0-9a-f]{8}$/;
const SEGMENT_NAME = /^([0-9a-f]{16})\.jsonl$/;
/** Buffered bytes that force a write even inside a batch, bounding the buffer. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

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
  let fd = openSync(current.path, "a");
  let totalBytes = segments.reduce((sum, s) => sum + s.bytes, 0);
  let buffer: string[] = [];
  let bufferedBytes = 0;
  let bufferedCount = 0;

  const endSeq = () => (current as Segment).firstSeq + (current as Segment).count + bufferedCount;
  const cursorOf = (seq: number) => `${epoch}-${seq.toString(16)}`;

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

  const roll = () => {
    const segment = current as Segment;
    closeSync(fd);
    const next: Segment = { firstSeq: segment.firstSeq + segment.count, path: "", bytes: 0, count: 0 };
    next.path = join(dir, segmentName(next.firstSeq));
    fd = openSync(next.path, "a");
    segments.push(next);
    current = next;
    enforceRetention();
  };

  const flush = () => {
    if (bufferedCount === 0) return;
    const data = `${buffer.join("\n")}\n`;
    // writeSync on a regular file writes everything or throws; its count is the byte length.
    const bytes = writeSync(fd, data);
    const segment = current as Segment;
    segment.bytes += bytes;
    segment.count += bufferedCount;
    totalBytes += bytes;
    buffer = [];
    bufferedBytes = 0;
    bufferedCount = 0;
    if (segment.bytes >= options.segmentBytes) roll();
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
    flush,
    unwritten: () => ({ seq: endSeq() - bufferedCount, lines: buffer }),
    endSeq,
    startSeq: () => (segments[0] as Segment).firstSeq,
    parseCursor(cursor) {
      const match = /^([0-9a-f]{8})-([0-9a-f]{1,13})$/.exec(cursor);
      if (match === null) return { kind: "malformed" };
      if (match[1] !== epoch) return { kind: "foreign" };
      return { kind: "valid", seq: Number.parseInt(match[2] as string, 16) };
    },
    cursorOf,
    segments: () => segments,
    reset(nextEpoch, startSeq) {
      if (!EPOCH.test(nextEpoch)) throw new Error(`not a journal epoch: ${nextEpoch}`);
      buffer = [];
      bufferedBytes = 0;
      bufferedCount = 0;
      closeSync(fd);
      // Emptied in place: a reader holding the array sees its segment gone (RetentionGap).
      for (const segment of segments.splice(0)) deleteSegment(segment);
      totalBytes = 0;
      current = { firstSeq: startSeq, path: join(dir, segmentName(startSeq)), bytes: 0, count: 0 };
      writeFileSync(current.path, "");
      segments.push(current);
      fd = openSync(current.path, "a");
      // The epoch last: a crash before it leaves the old epoch, which the next start resets again.
      writeFileSync(`${epochFile}.tmp`, `${nextEpoch}\n`);
      renameSync(`${epochFile}.tmp`, epochFile);
      epoch = nextEpoch;
    },
    close() {
      flush();
      closeSync(fd);
    },
  };
}
