/**
 * The journal's memory of its newest written batches: where each began (seq and byte offset in its segment),
 * how long it is and, for a batch of serialised entries, the CRC-32 of its bytes. A reader near the newest entry
 * starts at a known line instead of counting lines from its segment's start, and a batch of entries it reads
 * back whole and unchanged (same checksum) needs no line-by-line check: a damaged byte changes the checksum
 * and its lines are checked one by one, as ever.
 */
import type { Segment } from "./journal-segments.ts";

/**
 * Batches remembered: seconds of a busy stream, so a socket that fell behind the live topic, or a client
 * resuming with a recent cursor, reads right there. Past it the oldest are forgotten; a reader from further
 * back counts lines from its segment's start and checks each line, as before.
 */
export const MAX_WRITTEN_BATCHES = 4096;

export interface WrittenBatch {
  /** Byte offset of its first line in its segment. */
  offset: number;
  /** Its bytes, the last newline included. */
  length: number;
  /** CRC-32 of its bytes, when every line was a serialised entry; null: its lines are checked when read. */
  checksum: number | null;
}

export interface WrittenBatches {
  remember(segment: Segment, seq: number, batch: WrittenBatch): void;
  /** A known line start at or before `seq` in `segment`; the segment's start when none is known. */
  lineStart(segment: Segment, seq: number): { seq: number; offset: number };
  /** The remembered batches of `segment` lying wholly within bytes [from, to), a read from line `seq` on. */
  within(segment: Segment, seq: number, from: number, to: number): WrittenBatch[];
  clear(): void;
}

export function createWrittenBatches(): WrittenBatches {
  // Side by side, oldest first; seqs only grow between clears.
  let seqs: number[] = [];
  let segments: Segment[] = [];
  let batches: WrittenBatch[] = [];

  /** Index of the last batch starting at or before `seq`, or -1. */
  const lastAtOrBefore = (seq: number): number => {
    let low = 0;
    let high = seqs.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if ((seqs[mid] as number) <= seq) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  };

  return {
    remember(segment, seq, batch) {
      seqs.push(seq);
      segments.push(segment);
      batches.push(batch);
      if (seqs.length < 2 * MAX_WRITTEN_BATCHES) return;
      // Trimmed in halves, so a batch costs O(1) amortised.
      seqs = seqs.slice(MAX_WRITTEN_BATCHES);
      segments = segments.slice(MAX_WRITTEN_BATCHES);
      batches = batches.slice(MAX_WRITTEN_BATCHES);
    },
    lineStart(segment, seq) {
      const found = lastAtOrBefore(seq);
      if (found === -1 || segments[found] !== segment) return { seq: segment.firstSeq, offset: 0 };
      return { seq: seqs[found] as number, offset: (batches[found] as WrittenBatch).offset };
    },
    within(segment, seq, from, to) {
      const inside: WrittenBatch[] = [];
      for (let i = Math.max(0, lastAtOrBefore(seq)); i < seqs.length; i++) {
        if (segments[i] !== segment) {
          if (inside.length > 0) break; // later batches are in later segments
          continue;
        }
        const batch = batches[i] as WrittenBatch;
        if (batch.offset >= to) break;
        if (batch.offset >= from && batch.offset + batch.length <= to) inside.push(batch);
      }
      return inside;
    },
    clear() {
      seqs = [];
      segments = [];
      batches = [];
    },
  };
}
