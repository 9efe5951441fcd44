/**
 * Reading the journal: where a seq is, its lines from a seq on (in bounded chunks), and where a `tail=N` or
 * `since=T` backfill starts. Segments are immutable once rolled and the newest only grows, so a reader needs
 * no lock; a segment deleted by retention while it is read is reported as `RetentionGap`.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { yieldToEventLoop } from "../process/event-loop.ts";
import type { Journal, Segment } from "./journal.ts";
import { checkedLinesOf, entryOf, type JournalLine, linesOf, UNREADABLE_LINE } from "./journal-lines.ts";
import { MAX_JOURNAL_LINE_BYTES } from "./serialize.ts";

/**
 * Bytes read per step; bounds a reader's memory to about this plus one batch of lines. Small enough for the
 * allocator to reuse its buffers at once: a 300,000-entry catch-up peaked at 134–157 MB with 1 MiB steps,
 * 116–124 MB with 64 KiB. A step is read synchronously (mostly from the page cache: an asynchronous read
 * cost ~0.25 µs more per entry) and the event loop turns after it, so a backfill scan of a whole segment
 * does not hold the loop.
 */
export const JOURNAL_READ_CHUNK_BYTES = 64 * 1024;

/**
 * A step that holds no newline is read again this long: the longest line the writer produces and its newline.
 * Derived from the writer's bound so that every line it wrote can be read whole; a longer one is not an
 * entry (a damaged segment) and is skipped. Only such a step costs this much memory.
 */
const MAX_READ_LINE_BYTES = MAX_JOURNAL_LINE_BYTES + 1;

export class RetentionGap extends Error {}

export const NOT_JOURNALED = "entries could not be written to the journal (see /health)";

function segmentOf(journal: Journal, seq: number): Segment | undefined {
  const segments = journal.segments();
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i] as Segment;
    if (segment.firstSeq <= seq) return segment;
  }
  return undefined;
}

/**
 * One reader's buffer for its steps: a step's bytes are decoded before the reader reads again, so a reader
 * needs no new buffer per step. With a new one per step, a client caught up at max rate while the follower
 * read on left the collector several megabytes of dead buffers behind (peak RSS 3–5 MB higher).
 */
const newReadBuffer = (): Uint8Array => new Uint8Array(JOURNAL_READ_CHUNK_BYTES);

/**
 * Up to JOURNAL_READ_CHUNK_BYTES read at once into `buffer` (the view returned is valid until the reader's next
 * read), then the event loop turns (see there); more, the rest of a long line, asynchronously into new bytes.
 */
async function readRange(
  segment: Segment,
  start: number,
  end: number,
  buffer: Uint8Array,
): Promise<Uint8Array> {
  try {
    if (end - start > JOURNAL_READ_CHUNK_BYTES) return await Bun.file(segment.path).slice(start, end).bytes();
    const bytes = buffer.subarray(0, end - start);
    const fd = openSync(segment.path, "r");
    let read: number;
    try {
      read = readSync(fd, bytes, 0, bytes.length, start);
    } finally {
      closeSync(fd);
    }
    await yieldToEventLoop();
    return read === bytes.length ? bytes : bytes.subarray(0, read);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT")
      throw new RetentionGap(`segment ${segment.path} was deleted`);
    throw error;
  }
}

/**
 * Byte offset of `seq`'s line in its segment, found by counting newlines chunk by chunk from the nearest line
 * start the journal knows.
 */
async function offsetOf(
  journal: Journal,
  segment: Segment,
  seq: number,
  buffer: Uint8Array,
): Promise<number> {
  const known = journal.lineStart(segment, seq);
  let toSkip = seq - known.seq;
  let offset = known.offset;
  while (toSkip > 0) {
    const bytes = await readRange(
      segment,
      offset,
      Math.min(segment.bytes, offset + JOURNAL_READ_CHUNK_BYTES),
      buffer,
    );
    if (bytes.length === 0) break;
    let index = -1;
    while (toSkip > 0) {
      index = bytes.indexOf(10, index + 1);
      if (index === -1) break;
      toSkip--;
    }
    if (toSkip === 0) return offset + index + 1;
    offset += bytes.length;
  }
  return offset;
}

/** Offset just past the next newline at or after `from`, or `end` when there is none before it. */
async function lineEnd(segment: Segment, from: number, end: number, buffer: Uint8Array): Promise<number> {
  let offset = from;
  while (offset < end) {
    const bytes = await readRange(segment, offset, Math.min(end, offset + JOURNAL_READ_CHUNK_BYTES), buffer);
    if (bytes.length === 0) return end;
    const newline = bytes.indexOf(10);
    if (newline !== -1) return offset + newline + 1;
    offset += bytes.length;
  }
  return end;
}

/**
 * One read step of a segment from `offset` (the start of line `seq`), never past `end`: the whole lines of a
 * chunk, or one line longer than a chunk read whole, or a line longer than any entry skipped as unreadable.
 * `validate`: the journal whose lines are checked as entries; null: lines only counted and matched.
 */
async function readStep(
  segment: Segment,
  offset: number,
  seq: number,
  end: number,
  validate: Journal | null,
  buffer: Uint8Array,
): Promise<{ lines: JournalLine[]; offset: number }> {
  const bytes = await readRange(segment, offset, Math.min(end, offset + JOURNAL_READ_CHUNK_BYTES), buffer);
  const lastNewline = bytes.lastIndexOf(10);
  if (lastNewline !== -1) {
    if (validate === null)
      return {
        lines: linesOf(bytes.subarray(0, lastNewline), seq, false),
        offset: offset + lastNewline + 1,
      };
    const batches = validate.writtenBatches(segment, seq, offset, offset + lastNewline + 1);
    // The step ends with the last batch it holds whole: the batch the chunk cuts starts the next step, whole
    // and checked by its checksum, instead of having its lines checked one by one here.
    const last = batches.at(-1);
    const length = last === undefined ? lastNewline + 1 : last.offset + last.length - offset;
    return {
      lines: checkedLinesOf(batches, bytes.subarray(0, length), offset, seq),
      offset: offset + length,
    };
  }
  const whole =
    bytes.length < JOURNAL_READ_CHUNK_BYTES
      ? bytes
      : await readRange(segment, offset, Math.min(end, offset + MAX_READ_LINE_BYTES), buffer);
  const newline = whole.indexOf(10);
  if (newline !== -1)
    return {
      lines: linesOf(whole.subarray(0, newline), seq, validate !== null),
      offset: offset + newline + 1,
    };
  return {
    lines: [{ seq, line: null, until: seq + 1, reason: UNREADABLE_LINE }],
    offset: await lineEnd(segment, offset + whole.length, end, buffer),
  };
}

/** The seq after a batch. */
function seqAfter(lines: readonly JournalLine[], seq: number): number {
  const last = lines.at(-1);
  if (last === undefined) return seq;
  return last.line === null ? last.until : last.seq + 1;
}

/**
 * The newest written batch's lines from `seq` on, and the offset just past them, when `seq` lies within that
 * batch of `segment` or right after it; null otherwise (and for a pruned seq: the disk read reports it).
 */
function fromLastWritten(
  journal: Journal,
  segment: Segment,
  seq: number,
): { lines: JournalLine[]; offset: number } | null {
  const last = journal.lastWritten();
  if (last === null || last.segment !== segment || seq < last.seq || seq > last.seq + last.lines.length)
    return null;
  if (seq < journal.startSeq()) return null;
  const lines: JournalLine[] = [];
  for (let i = seq - last.seq; i < last.lines.length; i++)
    lines.push({ seq: last.seq + i, line: last.lines[i] as string });
  return { lines, offset: last.endOffset };
}

/**
 * Yields the journal's lines from `fromSeq` (inclusive) in batches, up to the newest entry at the time each
 * batch is read — also entries still waiting to be written while the journal cannot be written. Entries that
 * cannot be read come as gaps (`line: null`), never as an error. Throws RetentionGap when `fromSeq` or a
 * segment on the way is no longer retained.
 */
export async function* readJournal(journal: Journal, fromSeq: number): AsyncGenerator<JournalLine[]> {
  let seq = fromSeq;
  journal.flush();
  if (seq < journal.startSeq()) throw new RetentionGap(`seq ${seq} is older than the journal`);
  const first = segmentOf(journal, seq);
  if (first === undefined) return;
  let segment: Segment = first;
  const buffer = newReadBuffer();
  /** The byte offset of line `seq` in `segment`; found on the disk only when memory does not give it. */
  let offset: number | null = null;
  while (true) {
    journal.flush();
    const recent = fromLastWritten(journal, segment, seq);
    if (recent !== null) {
      offset = recent.offset;
      if (recent.lines.length > 0) {
        seq = seqAfter(recent.lines, seq);
        yield recent.lines;
        continue;
      }
    }
    offset ??= await offsetOf(journal, segment, seq, buffer);
    if (offset >= segment.bytes) {
      const segments = journal.segments();
      const index = segments.indexOf(segment);
      if (index === -1) throw new RetentionGap(`segment ${segment.path} was deleted`);
      const next: Segment | undefined = segments[index + 1];
      if (next === undefined) {
        const unwritten = journal.unwritten();
        if (seq < unwritten.seq) yield [{ seq, line: null, until: unwritten.seq, reason: NOT_JOURNALED }];
        seq = Math.max(seq, unwritten.seq);
        const lines = unwritten.lines.slice(seq - unwritten.seq);
        if (lines.length > 0) yield lines.map((line, i) => ({ seq: seq + i, line }));
        return; // caught up with the newest entry
      }
      // Segments leave no seq out unless entries could not be written: the hole is a gap.
      if (seq < next.firstSeq) yield [{ seq, line: null, until: next.firstSeq, reason: NOT_JOURNALED }];
      seq = next.firstSeq;
      segment = next;
      offset = 0;
      continue;
    }
    const step = await readStep(segment, offset, seq, segment.bytes, journal, buffer);
    offset = step.offset;
    seq = seqAfter(step.lines, seq);
    yield step.lines;
  }
}

/**
 * Seq from which the last `count` lines accepted by `matches` follow, looking only at entries before
 * `endSeq`; the journal's start when fewer are retained.
 */
export async function findTailStart(
  journal: Journal,
  count: number,
  matches: (line: string) => boolean,
  endSeq: number,
): Promise<number> {
  if (count <= 0) return endSeq;
  const segments = [...journal.segments()];
  let needed = count;
  let start = endSeq;
  // The newest entries may still wait in memory (the journal cannot be written): they count first.
  const unwritten = journal.unwritten();
  for (let i = unwritten.lines.length - 1; i >= 0 && needed > 0; i--) {
    const seq = unwritten.seq + i;
    if (seq >= endSeq || !matches(unwritten.lines[i] as string)) continue;
    start = seq;
    needed--;
  }
  for (let i = segments.length - 1; i >= 0 && needed > 0; i--) {
    const segment = segments[i] as Segment;
    if (segment.firstSeq >= endSeq) continue;
    // The last `needed` matching seqs of this segment, in a ring.
    const ring: number[] = [];
    try {
      for await (const batch of readSegmentLines(segment, endSeq)) {
        for (const { seq, line } of batch) {
          if (line === null || !matches(line)) continue;
          ring.push(seq);
          if (ring.length > needed) ring.shift();
        }
      }
    } catch (error) {
      if (error instanceof RetentionGap) break;
      throw error;
    }
    if (ring.length > 0) start = ring[0] as number;
    needed -= ring.length;
    if (needed > 0) start = segment.firstSeq;
  }
  return Math.max(start, journal.startSeq());
}

/** The lines of one segment before `endSeq`, in batches (unvalidated: only counted and matched). */
async function* readSegmentLines(segment: Segment, endSeq: number): AsyncGenerator<JournalLine[]> {
  const end = segment.bytes;
  let offset = 0;
  let seq = segment.firstSeq;
  const buffer = newReadBuffer();
  while (offset < end && seq < endSeq) {
    const step = await readStep(segment, offset, seq, end, null, buffer);
    offset = step.offset;
    const batch = step.lines.filter((line) => line.seq < endSeq);
    seq = seqAfter(step.lines, seq);
    yield batch;
  }
}

/** Timestamp (ms) of the first entry of a segment, or null when it is empty or unreadable. */
async function firstTimestampOf(segment: Segment): Promise<number | null> {
  if (segment.bytes === 0) return null;
  const bytes = await readRange(segment, 0, Math.min(segment.bytes, 64 * 1024), newReadBuffer());
  const newline = bytes.indexOf(10);
  if (newline === -1) return null;
  const line = new TextDecoder().decode(bytes.subarray(0, newline));
  const timestamp = entryOf(line)?.timestamp;
  const ms = typeof timestamp === "string" ? Date.parse(timestamp) : Number.NaN;
  return Number.isNaN(ms) ? null : ms;
}

/**
 * Where a `since` backfill starts: the newest segment whose first entry is older than `sinceMs` (entries are
 * journaled roughly in time order, so earlier segments hold only older entries). The caller still filters
 * each entry by its timestamp.
 */
export async function findSinceStart(journal: Journal, sinceMs: number): Promise<number> {
  const segments = [...journal.segments()];
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i] as Segment;
    try {
      const first = await firstTimestampOf(segment);
      if (first !== null && first < sinceMs) return segment.firstSeq;
    } catch (error) {
      if (error instanceof RetentionGap) break;
      throw error;
    }
  }
  return journal.startSeq();
}
