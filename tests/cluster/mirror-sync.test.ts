/**
 * Where a mirror's journal restarts when it syncs with the shared stream: only when it cannot continue it
 * (another epoch, a stream that went back, entries trimmed past its end, an empty stream behind it).
 */
import { describe, expect, test } from "bun:test";
import { journalRestart, type StreamView } from "../../src/cluster/log-mirror.ts";

const stream = (lastSeq: number, firstSeq: number | null, epoch = "aaaaaaaa"): StreamView => ({
  epoch,
  lastSeq,
  firstSeq,
});

describe("journalRestart", () => {
  const cases: Array<[string, { epoch: string; end: number }, StreamView, number | null, boolean]> = [
    ["a journal at the stream's end continues", { epoch: "aaaaaaaa", end: 11 }, stream(10, 1), null, false],
    [
      "a journal behind, inside what the stream holds, continues",
      { epoch: "aaaaaaaa", end: 5 },
      stream(10, 3),
      null,
      false,
    ],
    ["a journal at its oldest entry continues", { epoch: "aaaaaaaa", end: 3 }, stream(10, 3), null, false],
    ["another epoch restarts at the oldest entry", { epoch: "bbbbbbbb", end: 5 }, stream(10, 3), 3, false],
    [
      "another epoch with an empty stream restarts past its last seq",
      { epoch: "bbbbbbbb", end: 5 },
      stream(10, null),
      11,
      false,
    ],
    [
      "a stream that went back restarts, and says data was lost",
      { epoch: "aaaaaaaa", end: 20 },
      stream(10, 4),
      4,
      true,
    ],
    [
      "entries trimmed past the journal's end restart at the oldest",
      { epoch: "aaaaaaaa", end: 2 },
      stream(10, 6),
      6,
      false,
    ],
    [
      "an empty stream behind the journal restarts past its last seq",
      { epoch: "aaaaaaaa", end: 5 },
      stream(10, null),
      11,
      false,
    ],
    [
      "an empty stream at the journal's end continues",
      { epoch: "aaaaaaaa", end: 11 },
      stream(10, null),
      null,
      false,
    ],
  ];
  for (const [name, journal, view, startSeq, lost] of cases)
    test(name, () => {
      const restart = journalRestart(journal, view);
      expect(restart === null ? null : restart.startSeq).toBe(startSeq);
      expect(restart?.lost ?? false).toBe(lost);
    });
});
