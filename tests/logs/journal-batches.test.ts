/**
 * The journal's memory of its newest written batches: bounded by MAX_WRITTEN_BATCHES, exact for what it keeps,
 * and never pointing into another segment than the one asked about.
 */
import { describe, expect, test } from "bun:test";
import { createWrittenBatches, MAX_WRITTEN_BATCHES } from "../../src/logs/journal-batches.ts";
import type { Segment } from "../../src/logs/journal-segments.ts";

const segment = (firstSeq: number): Segment => ({
  firstSeq,
  path: `/nowhere/${firstSeq}`,
  bytes: 0,
  count: 0,
});

/** `count` batches of 10 lines of 100 bytes each into one segment starting at seq 1. */
function filled(count: number) {
  const batches = createWrittenBatches();
  const only = segment(1);
  for (let i = 0; i < count; i++)
    batches.remember(only, 1 + i * 10, { offset: i * 1000, length: 1000, checksum: i });
  return { batches, only };
}

describe("written batches", () => {
  test("a seq inside a remembered batch starts at that batch's first line", () => {
    const { batches, only } = filled(100);
    expect(batches.lineStart(only, 1 + 57 * 10 + 3)).toEqual({ seq: 1 + 57 * 10, offset: 57_000 });
  });

  test("past the bound the oldest batches are forgotten and their seqs start at the segment's start", () => {
    const { batches, only } = filled(3 * MAX_WRITTEN_BATCHES);
    expect(batches.lineStart(only, 15)).toEqual({ seq: 1, offset: 0 });
    const newest = 3 * MAX_WRITTEN_BATCHES - 1;
    expect(batches.lineStart(only, 1 + newest * 10)).toEqual({ seq: 1 + newest * 10, offset: newest * 1000 });
    // At most twice the bound is ever held: everything older than that comes back as unknown.
    expect(batches.within(only, 1, 0, Number.POSITIVE_INFINITY).length).toBeLessThanOrEqual(
      2 * MAX_WRITTEN_BATCHES,
    );
  });

  test("a batch of another segment is never a line start of this one", () => {
    const batches = createWrittenBatches();
    const [older, newer] = [segment(1), segment(1001)];
    batches.remember(older, 500, { offset: 40_000, length: 100, checksum: 1 });
    expect(batches.lineStart(newer, 1005)).toEqual({ seq: 1001, offset: 0 });
    expect(batches.within(newer, 1001, 0, 1_000_000)).toEqual([]);
  });

  test("only batches wholly within the read bytes are offered for checking", () => {
    const { batches, only } = filled(10);
    expect(batches.within(only, 21, 2000, 4500).map((b) => b.offset)).toEqual([2000, 3000]);
    expect(batches.within(only, 21, 2500, 4000).map((b) => b.offset)).toEqual([3000]);
  });

  test("after a clear nothing is known", () => {
    const { batches, only } = filled(10);
    batches.clear();
    expect(batches.lineStart(only, 55)).toEqual({ seq: 1, offset: 0 });
  });
});
