/**
 * A journal read step's bytes as lines: each line decoded, and checked as an entry unless the batch it belongs
 * to came back unchanged. Pure: the bytes come from the reader (journal-read.ts).
 */
import type { WrittenBatch } from "./journal-batches.ts";

/** Why entries are missing, as told to clients in a gap notice. */
export const UNREADABLE_LINE = "an entry in the journal is damaged and was skipped";

/**
 * One position of the journal: an entry's line, or entries from `seq` up to `until` (exclusive) that cannot
 * be read — a damaged line, or entries that were never written (a full disk) — to be reported as a gap.
 */
export type JournalLine =
  | { seq: number; line: string }
  | { seq: number; line: null; until: number; reason: string };

/**
 * The entry a line holds, if it is what the writer writes: one serialised entry, a JSON object. Anything else
 * is a damaged segment (a flipped byte, a block of zeros after a crash) and must not reach a client as if it
 * were an entry.
 */
export function entryOf(line: string): Record<string, unknown> | null {
  if (line.charCodeAt(0) !== 123 || line.charCodeAt(line.length - 1) !== 125) return null;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null; // the answer to the question, not a failure to report
  }
}

/**
 * The lines of `bytes` (no newline after the last), each decoded on its own. Decoding the step whole and
 * splitting it was about 0.1 µs a line cheaper, but a client caught up at max rate peaked 5–9 MB higher: the
 * lines were views of the step's string, which the collector reclaimed later.
 */
export function linesOf(bytes: Uint8Array, seq: number, validate: boolean): JournalLine[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const lines: JournalLine[] = [];
  let start = 0;
  for (let at = seq; ; at++) {
    const newline = text.indexOf(10, start);
    const line = text.toString("utf8", start, newline === -1 ? text.length : newline);
    lines.push(
      !validate || entryOf(line) !== null
        ? { seq: at, line }
        : { seq: at, line: null, until: at + 1, reason: UNREADABLE_LINE },
    );
    if (newline === -1) return lines;
    start = newline + 1;
  }
}

/**
 * The lines of `region` (whole lines read at `offset` of a segment, the last newline included), checked: a
 * batch of serialised entries the journal wrote there (`batches`, the journal's batches wholly within it) whose
 * bytes come back unchanged (same CRC-32) needs no line-by-line check; every other line is checked as an entry.
 */
export function checkedLinesOf(
  batches: readonly WrittenBatch[],
  region: Uint8Array,
  offset: number,
  seq: number,
): JournalLine[] {
  if (batches.length === 0) return linesOf(region.subarray(0, region.length - 1), seq, true);
  const lines: JournalLine[] = [];
  const add = (from: number, to: number, validate: boolean) => {
    if (to <= from) return;
    for (const line of linesOf(region.subarray(from, to - 1), seq + lines.length, validate)) lines.push(line);
  };
  let at = 0;
  for (const batch of batches) {
    const start = batch.offset - offset;
    const end = start + batch.length;
    if (batch.checksum === null || Bun.hash.crc32(region.subarray(start, end)) !== batch.checksum) continue;
    add(at, start, true);
    add(start, end, false);
    at = end;
  }
  add(at, region.length, true);
  return lines;
}
