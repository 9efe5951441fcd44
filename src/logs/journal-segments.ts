/**
 * The journal's files: the epoch file, the segments on disk (found, recovered after a crash, started, deleted by
 * retention) and the positioned write at the current segment's end. No buffering and no retry policy: those are
 * the journal's (journal.ts); this only knows where bytes go.
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
import { EPOCH } from "../stream/cursor.ts";

export interface Segment {
  firstSeq: number;
  path: string;
  bytes: number;
  /** Number of entries; the next segment starts at firstSeq + count. */
  count: number;
}

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

const SEQ_DIGITS = 16;
const SEGMENT_NAME = /^([0-9a-f]{16})\.jsonl$/;

export function segmentName(firstSeq: number): string {
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

/** The journal's epoch, created at random for a new journal. */
export function readEpoch(dir: string): string {
  const epochFile = join(dir, "epoch");
  let epoch: string;
  if (existsSync(epochFile)) epoch = readFileSync(epochFile, "utf8").trim();
  else {
    epoch = crypto.randomUUID().slice(0, 8);
    writeFileSync(epochFile, `${epoch}\n`);
  }
  if (!EPOCH.test(epoch)) throw new Error(`journal epoch file ${epochFile} is corrupt`);
  return epoch;
}

/** Replaces the epoch file atomically. */
export function writeEpoch(dir: string, epoch: string): void {
  const epochFile = join(dir, "epoch");
  writeFileSync(`${epochFile}.tmp`, `${epoch}\n`);
  renameSync(`${epochFile}.tmp`, epochFile);
}

/** The segments in the directory, oldest first, each recovered; one empty segment when there are none. */
export function loadSegments(dir: string): Segment[] {
  mkdirSync(dir, { recursive: true });
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
  if (segments.length === 0) {
    const first = { firstSeq: 1, path: join(dir, segmentName(1)), bytes: 0, count: 0 };
    writeFileSync(first.path, "");
    segments.push(first);
  }
  return segments;
}

export function deleteSegment(segment: Segment, log: LogFn): void {
  try {
    unlinkSync(segment.path);
  } catch (error) {
    log("warn", `cannot delete journal segment ${segment.path}: ${String(error)}`);
  }
}

/** The descriptor of the segment being written, opened on its first write. */
export interface SegmentWriter {
  /**
   * Writes `data` at the segment's end and returns the bytes written. Writes are positioned rather than
   * appended: a disk that fills mid-batch writes part of it (a short count, then ENOSPC), and what a failed
   * batch left behind the segment's end is cut (`cutTail`) or overwritten by the retry instead of becoming lines.
   */
  write(segment: Segment, data: Uint8Array, cutTornTail: boolean): number;
  /** Cuts the segment back to its recorded end after a failed write. */
  cutTail(segment: Segment): void;
  close(): void;
}

export function createSegmentWriter(): SegmentWriter {
  let fd: number | null = null;
  return {
    write(segment, data, cutTornTail) {
      fd ??= openSync(segment.path, constants.O_WRONLY | constants.O_CREAT, 0o644);
      let written = 0;
      while (written < data.length) {
        const step = writeSync(fd, data, written, data.length - written, segment.bytes + written);
        if (step === 0) throw new Error(`journal write to ${segment.path} made no progress`);
        written += step;
      }
      if (cutTornTail) ftruncateSync(fd, segment.bytes + written);
      return written;
    },
    cutTail(segment) {
      if (fd !== null) ftruncateSync(fd, segment.bytes);
    },
    close() {
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  };
}
