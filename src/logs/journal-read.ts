/**
 * Reading the journal: where a seq is, its lines from a seq on (in bounded chunks), and where a `tail=N` or
 * `since=T` backfill starts. Segments are immutable once rolled and the newest only grows, so a reader needs
 * no lock; a segment deleted by retention while it is read is reported as `RetentionGap`.
 */
import type { Journal, Segment } from "./journal.ts";

/** Bytes read per step; bounds a reader's memory to about this plus one batch of lines. */
export const JOURNAL_READ_CHUNK_BYTES = 1024 * 1024;

export class RetentionGap extends Error {}

export interface JournalLine {
  seq: number;
  line: string;
}

function segmentOf(journal: Journal, seq: number): Segment | undefined {
  const segments = journal.segments();
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i] as Segment;
    if (segment.firstSeq <= seq) return segment;
  }
  return undefined;
}

async function readRange(segment: Segment, start: number, end: number): Promise<Uint8Array> {
  try {
    return await Bun.file(segment.path).slice(start, end).bytes();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT")
      throw new RetentionGap(`segment ${segment.path} was deleted`);
    throw error;
  }
}

/** Byte offset of `seq`'s line in its segment, found by counting newlines chunk by chunk. */
async function offsetOf(segment: Segment, seq: number): Promise<number> {
  let toSkip = seq - segment.firstSeq;
  let offset = 0;
  while (toSkip > 0) {
    const bytes = await readRange(
      segment,
      offset,
      Math.min(segment.bytes, offset + JOURNAL_READ_CHUNK_BYTES),
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

/**
 * Yields the journal's lines from `fromSeq` (inclusive) in batches, up to the newest entry at the time each
 * batch is read. Throws RetentionGap when `fromSeq` or a segment on the way is no longer retained.
 */
export async function* readJournal(journal: Journal, fromSeq: number): AsyncGenerator<JournalLine[]> {
  const decoder = new TextDecoder();
  let seq = fromSeq;
  journal.flush();
  if (seq < journal.startSeq()) throw new RetentionGap(`seq ${seq} is older than the journal`);
  const first = segmentOf(journal, seq);
  if (first === undefined) return;
  let segment: Segment = first;
  let offset = await offsetOf(segment, seq);
  while (true) {
    journal.flush();
    if (offset >= segment.bytes) {
      const segments = journal.segments();
      const next: Segment | undefined = segments[segments.indexOf(segment) + 1];
      if (next === undefined || seq < next.firstSeq) {
        if (segments.indexOf(segment) === -1) throw new RetentionGap(`segment ${segment.path} was deleted`);
        return; // caught up with the newest entry
      }
      segment = next;
      offset = 0;
      continue;
    }
    const bytes = await readRange(
      segment,
      offset,
      Math.min(segment.bytes, offset + JOURNAL_READ_CHUNK_BYTES),
    );
    const lastNewline = bytes.lastIndexOf(10);
    if (lastNewline === -1)
      throw new Error(`journal line longer than ${JOURNAL_READ_CHUNK_BYTES} bytes in ${segment.path}`);
    const lines = decoder.decode(bytes.subarray(0, lastNewline)).split("\n");
    offset += lastNewline + 1;
    const batch: JournalLine[] = new Array(lines.length);
    for (let i = 0; i < lines.length; i++) batch[i] = { seq: seq++, line: lines[i] as string };
    yield batch;
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
  for (let i = segments.length - 1; i >= 0 && needed > 0; i--) {
    const segment = segments[i] as Segment;
    if (segment.firstSeq >= endSeq) continue;
    // The last `needed` matching seqs of this segment, in a ring.
    const ring: number[] = [];
    try {
      for await (const batch of readSegmentLines(segment, endSeq)) {
        for (const { seq, line } of batch) {
          if (!matches(line)) continue;
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

/** The lines of one segment before `endSeq`, in batches. */
async function* readSegmentLines(segment: Segment, endSeq: number): AsyncGenerator<JournalLine[]> {
  const decoder = new TextDecoder();
  const end = segment.bytes;
  let offset = 0;
  let seq = segment.firstSeq;
  while (offset < end && seq < endSeq) {
    const bytes = await readRange(segment, offset, Math.min(end, offset + JOURNAL_READ_CHUNK_BYTES));
    const lastNewline = bytes.lastIndexOf(10);
    if (lastNewline === -1) return;
    const batch: JournalLine[] = [];
    for (const line of decoder.decode(bytes.subarray(0, lastNewline)).split("\n")) {
      if (seq >= endSeq) break;
      batch.push({ seq: seq++, line });
    }
    offset += lastNewline + 1;
    yield batch;
  }
}

/** Timestamp (ms) of the first entry of a segment, or null when it is empty or unreadable. */
async function firstTimestampOf(segment: Segment): Promise<number | null> {
  if (segment.bytes === 0) return null;
  const bytes = await readRange(segment, 0, Math.min(segment.bytes, 64 * 1024));
  const newline = bytes.indexOf(10);
  if (newline === -1) return null;
  const entry = JSON.parse(new TextDecoder().decode(bytes.subarray(0, newline))) as { timestamp?: string };
  const ms = Date.parse(entry.timestamp ?? "");
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
