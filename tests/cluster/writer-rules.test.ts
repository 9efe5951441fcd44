/** The leased writer's pure decisions: renewal pace, who holds the lease, what one append takes, takeover. */
import { describe, expect, test } from "bun:test";
import { leaseHolder, renewIntervalMs } from "../../src/cluster/lease.ts";
import { FOLLOWED_FIELD } from "../../src/cluster/log-positions.ts";
import { batchesPerScript, sameFiles, takeOverSince } from "../../src/cluster/log-writer-term.ts";

describe("the lease", () => {
  const intervals: Array<[string, number, number]> = [
    ["a lease is renewed three times within its time", 3_000, 1_000],
    ["an odd lease time rounds the interval down", 1_000, 333],
    ["a very short lease is renewed at most every 100 ms", 150, 100],
  ];
  for (const [name, leaseMs, expected] of intervals)
    test(name, () => expect(renewIntervalMs(leaseMs)).toBe(expected));

  const holders: Array<[string, unknown, string | null]> = [
    ["the holder is the instance id before the token", "node-a/1f2e3d4c", "node-a"],
    ["a free lease has no holder", null, null],
    ["a value that is not a string has no holder", 42, null],
  ];
  for (const [name, value, expected] of holders) test(name, () => expect(leaseHolder(value)).toBe(expected));
});

describe("how many batches one append script takes", () => {
  const batch = (entries: number, bytes: number) => ({ entries: Array<string>(entries).fill("{}"), bytes });
  const cases: Array<
    [string, Array<ReturnType<typeof batch>>, { count: number; entries: number; bytes: number }]
  > = [
    ["all batches that fit together", [batch(2, 10), batch(3, 20)], { count: 2, entries: 5, bytes: 30 }],
    [
      "batches stop before the one that would pass the entry limit",
      [batch(600, 10), batch(500, 10)],
      { count: 1, entries: 600, bytes: 10 },
    ],
    [
      "batches stop before the one that would pass the byte limit",
      [batch(1, 768 * 1024), batch(1, 512 * 1024)],
      { count: 1, entries: 1, bytes: 768 * 1024 },
    ],
    [
      "a first batch larger than the limits is still taken alone",
      [batch(5_000, 10), batch(1, 10)],
      { count: 1, entries: 5_000, bytes: 10 },
    ],
    [
      "a batch without entries (positions only) is taken too",
      [batch(0, 0)],
      { count: 1, entries: 0, bytes: 0 },
    ],
  ];
  for (const [name, pending, expected] of cases)
    test(name, () => expect(batchesPerScript(pending)).toEqual(expected));
});

describe("taking over from an earlier term", () => {
  const cases: Array<[string, Map<string, string>, number | undefined]> = [
    ["no earlier term committed: nothing to take over", new Map(), undefined],
    ["an earlier commit: its time less the clock skew", new Map([[FOLLOWED_FIELD, "10000"]]), 8_000],
    ["a commit time that is not a number is ignored", new Map([[FOLLOWED_FIELD, "soon"]]), undefined],
  ];
  for (const [name, committed, expected] of cases)
    test(name, () => expect(takeOverSince(committed)).toBe(expected));
});

describe("whether a batch end changed any file position", () => {
  const cases: Array<[string, Map<string, string>, Map<string, string>, boolean]> = [
    [
      "the same files at the same positions, besides the commit time",
      new Map([
        ["f:1", "a"],
        [FOLLOWED_FIELD, "1"],
      ]),
      new Map([["f:1", "a"]]),
      true,
    ],
    ["a file moved on", new Map([["f:1", "a"]]), new Map([["f:1", "b"]]), false],
    [
      "a file appeared",
      new Map([["f:1", "a"]]),
      new Map([
        ["f:1", "a"],
        ["f:2", "c"],
      ]),
      false,
    ],
    [
      "a file is gone",
      new Map([
        ["f:1", "a"],
        ["f:2", "c"],
      ]),
      new Map([["f:1", "a"]]),
      false,
    ],
  ];
  for (const [name, previous, next, expected] of cases)
    test(name, () => expect(sameFiles(previous, next)).toBe(expected));
});
