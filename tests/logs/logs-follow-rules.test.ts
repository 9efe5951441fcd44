/** The follower's pure decisions: how much of a read step to consume, where files start and resume. */
import { describe, expect, test } from "bun:test";
import {
  IDLE_DESCRIPTOR_MS,
  type KnownFileStep,
  knownFileStep,
  newestFiles,
  startUpOffset,
} from "../../src/logs/directory-scan.ts";
import type { LogFileEntry } from "../../src/logs/file-access.ts";
import { resumeOffset } from "../../src/logs/file-tail.ts";
import { consumableLength } from "../../src/logs/read-step.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("how much of a read step is consumed", () => {
  const cases: Array<[string, string, boolean, boolean, number]> = [
    ["whole lines are consumed up to and including the last newline", "a\nbc\n", false, false, 5],
    ["a half-written last line waits for its newline", "a\nbc", false, false, 2],
    ["a half-written line alone waits entirely", "abc", false, false, 0],
    ["a full chunk without a newline is consumed whole, to be cut", "abc", true, false, 3],
    ["the tail of a cut line is consumed whole while it is skipped", "abc", false, true, 3],
    ["the tail of a cut line ends at its newline like any line", "bc\nd", false, true, 3],
    ["an empty read consumes nothing", "", false, false, 0],
  ];
  for (const [name, text, fullChunk, skipping, expected] of cases)
    test(name, () => expect(consumableLength(bytes(text), fullChunk, skipping)).toBe(expected));
});

describe("where a file is read again from", () => {
  const file = (offset: number, heldFrom: number | null) => ({ identity: "1:2", offset, heldFrom });
  const cases: Array<[string, ReturnType<typeof file>, Map<string, number> | null, number]> = [
    ["nothing held: the read offset", file(100, null), null, 100],
    ["a record the assembler still gathers: its first line", file(100, 60), null, 60],
    ["a copy the pairing window holds: its position", file(100, null), new Map([["1:2", 40]]), 40],
    ["both held: the earlier of the two", file(100, 30), new Map([["1:2", 40]]), 30],
    ["a copy held from another file does not move this one", file(100, null), new Map([["9:9", 5]]), 100],
  ];
  for (const [name, followed, held, expected] of cases)
    test(name, () => expect(resumeOffset(followed, held)).toBe(expected));
});

describe("what a directory pass does with a file it follows", () => {
  const now = 1_000_000;
  const followed = (offset: number, fd: number | null, idleFor: number) => ({
    offset,
    fd,
    lastActivity: now - idleFor,
  });
  const cases: Array<[string, ReturnType<typeof followed>, number, KnownFileStep]> = [
    ["a file listed longer than its offset is read", followed(10, 5, 0), 20, "read"],
    [
      "a file listed shorter than its offset is read (the read notices the truncation)",
      followed(10, 5, 0),
      4,
      "read",
    ],
    [
      "an unchanged file whose descriptor is idle long enough has it closed",
      followed(10, 5, IDLE_DESCRIPTOR_MS + 1),
      10,
      "close",
    ],
    ["an unchanged file used lately keeps its descriptor", followed(10, 5, IDLE_DESCRIPTOR_MS), 10, "keep"],
    [
      "an unchanged file without a descriptor is left alone",
      followed(10, null, IDLE_DESCRIPTOR_MS + 1),
      10,
      "keep",
    ],
  ];
  for (const [name, file, size, expected] of cases)
    test(name, () => expect(knownFileStep(file, { size }, now)).toBe(expected));
});

describe("which files are followed when there are too many", () => {
  const entry = (name: string, mtimeMs: number): LogFileEntry => ({
    identity: name,
    path: `/logs/${name}`,
    size: 0,
    mtimeMs,
  });
  const listing = [entry("a.log", 1), entry("b.log", 3), entry("c.log", 2)];
  test("a listing within the limit is followed as listed", () => {
    expect(newestFiles(listing, 3)).toEqual(listing);
  });
  test("past the limit the most recently modified files win", () => {
    expect(newestFiles(listing, 2).map((e) => e.identity)).toEqual(["b.log", "c.log"]);
  });
});

describe("where a file present at start-up starts", () => {
  const entry = { size: 500, mtimeMs: 2_000 };
  const saved = (offset: number) => ({ identity: "1:2", path: "/logs/x.log", offset });
  const cases: Array<[string, ReturnType<typeof saved> | undefined, number | undefined, number]> = [
    ["a file without a saved position starts at its end", undefined, undefined, 500],
    ["a saved position within the file is where it continues", saved(120), undefined, 120],
    ["a saved position past the file's end is ignored: its end", saved(900), undefined, 500],
    ["taking over, a file changed since the other follower stopped starts at its start", undefined, 1_000, 0],
    [
      "taking over, a file unchanged since the other follower stopped starts at its end",
      undefined,
      3_000,
      500,
    ],
    ["taking over, a saved position still wins", saved(120), 1_000, 120],
    [
      "taking over, a file that shrank below its saved position and changed since starts at its start",
      saved(900),
      1_000,
      0,
    ],
  ];
  for (const [name, position, since, expected] of cases)
    test(name, () => expect(startUpOffset(entry, position, since)).toBe(expected));
});
