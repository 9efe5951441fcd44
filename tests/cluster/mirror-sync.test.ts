/**
 * Where a mirror's journal restarts when it syncs with the shared stream: only when it cannot continue it
 * (another epoch, a stream that went back, entries trimmed past its end, an empty stream behind it).
 */
import { describe, expect, test } from "bun:test";
import { journalRestart, type StreamView } from "../../src/cluster/log-mirror.ts";

const stream = (lastSeq: number, firstSeq: number | null, epoch = "a"): StreamView => ({
  epoch,
  lastSeq,
  firstSeq,
});

describe("journalRestart", () => {
  // [case, journal's epoch and end, stream's last and oldest seq, where it restarts (null: continues), lost]
  const cases: Array<[string, string, number, number, number | null, number | null, boolean]> = [
    ["a journal at the stream's end continues", "a", 11, 10, 1, null, false],
    ["a journal behind, inside what the stream holds, continues", "a", 5, 10, 3, null, false],
    ["a journal at its oldest entry continues", "a", 3, 10, 3, null, false],
    ["another epoch restarts at the oldest entry", "b", 5, 10, 3, 3, false],
    ["another epoch with an empty stream restarts past its last seq", "b", 5, 10, null, 11, false],
    ["a stream that went back restarts, and says data was lost", "a", 20, 10, 4, 4, true],
    ["entries trimmed past the journal's end restart at the oldest", "a", 2, 10, 6, 6, false],
    ["an empty stream behind the journal restarts past its last seq", "a", 5, 10, null, 11, false],
    ["an empty stream at the journal's end continues", "a", 11, 10, null, null, false],
  ];
  for (const [name, epoch, end, lastSeq, firstSeq, startSeq, lost] of cases)
    test(name, () => {
      const restart = journalRestart({ epoch, end }, stream(lastSeq, firstSeq));
      expect(restart === null ? null : restart.startSeq).toBe(startSeq);
      expect(restart?.lost ?? false).toBe(lost);
    });
});
