/**
 * The journal on a disk that fills up (a real tmpfs): nothing throws, failures are counted and logged once,
 * writes back off and resume when there is room, and what could not be kept is a gap, never silently lost.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Journal, openJournal } from "../../src/logs/journal.ts";
import type { JournalLine } from "../../src/logs/journal-lines.ts";
import { findTailStart, NOT_JOURNALED, readJournal } from "../../src/logs/journal-read.ts";
import { rawEntry } from "../../src/logs/parse.ts";
import { serializeEntry } from "../../src/logs/serialize.ts";
import { mountSmallDisk, type SmallDisk, tmpfsAvailable } from "../helpers/tmpfs.ts";
import { waitFor } from "../helpers/ws.ts";

const cleanups: Array<() => void> = [];
afterEach(() => {
  // Each runs even when an earlier one throws, so a failing test never leaves a mount behind.
  const errors: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      cleanup();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, "cleanup failed");
});

interface Logged {
  level: string;
  message: string;
}

function setUp(sizeBytes: number): { disk: SmallDisk; open: () => Journal; logged: Logged[] } {
  const root = mkdtempSync(join(tmpdir(), "hookstream-disk-"));
  const disk = mountSmallDisk(join(root, "disk"), sizeBytes);
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  cleanups.push(() => disk[Symbol.dispose]());
  const logged: Logged[] = [];
  const open = () => {
    const journal = openJournal({
      dir: join(disk.dir, "journal"),
      segmentBytes: 64 * 1024 * 1024,
      maxBytes: 1024 * 1024 * 1024,
      log: (level, message) => logged.push({ level, message }),
    });
    cleanups.push(() => journal.close());
    return journal;
  };
  return { disk, open, logged };
}

function line(i: number, size = 100): string {
  return serializeEntry(rawEntry(`entry ${i} ${"x".repeat(size)}`, "2026-11-23T10:00:00.000Z"), false);
}

async function readAll(journal: Journal): Promise<JournalLine[]> {
  const out: JournalLine[] = [];
  for await (const batch of readJournal(journal, journal.startSeq())) out.push(...batch);
  return out;
}

const asRead = (lines: string[], firstSeq = 1): JournalLine[] =>
  lines.map((text, i) => ({ seq: firstSeq + i, line: text }));

describe.if(tmpfsAvailable)("a journal on a full disk", () => {
  test("a failed write is counted and logged once, served from memory, retried with backoff and written later", async () => {
    const { disk, open, logged } = setUp(1024 * 1024);
    const journal = open();
    const before = Array.from({ length: 10 }, (_, i) => line(i));
    for (const text of before) journal.append(text);
    journal.flush();
    // 32 KiB left: the next batch (about 100 KiB) is written in part, then ENOSPC.
    disk.fill(32 * 1024);
    const during = Array.from({ length: 200 }, (_, i) => line(100 + i, 400));
    for (const text of during.slice(0, 100)) journal.append(text);
    expect(() => journal.flush()).not.toThrow();
    expect(journal.stats()).toEqual({ writing: false, writeFailures: 1, unwritten: 100, notJournaled: 0 });
    // Batch ends right after the failure do not retry at once.
    for (const text of during.slice(100)) {
      journal.append(text);
      journal.flush();
    }
    expect(journal.stats().writeFailures).toBe(1);
    expect(await readAll(journal)).toEqual(asRead([...before, ...during]));
    // tail= counts the entries waiting in memory too.
    expect(await findTailStart(journal, 3, () => true, journal.endSeq())).toBe(journal.endSeq() - 3);
    expect(logged.filter((l) => l.level === "error")).toHaveLength(1);
    expect(logged[0]?.message).toContain("ENOSPC");

    disk.free();
    await waitFor(() => journal.stats().writing, 5_000, "the journal written again");
    expect(journal.stats()).toMatchObject({ unwritten: 0, notJournaled: 0 });
    expect(logged.map((l) => l.level)).toEqual(["error", "info"]);
    journal.close();
    // What a restart reads back: every line whole, the part-written batch neither lost nor doubled.
    expect(await readAll(open())).toEqual(asRead([...before, ...during]));
  }, 20_000);

  test("the retry timer writes even when the wall clock says its backoff is not over yet", async () => {
    // Timers and Date.now() are different clocks: a timer may fire a little before the time its backoff
    // was computed for, by Date.now(). Without new entries, nothing else would try the write again.
    const { disk, open } = setUp(1024 * 1024);
    const journal = open();
    disk.fill(0);
    journal.append(line(1, 2000));
    journal.flush();
    expect(journal.stats()).toMatchObject({ writing: false, writeFailures: 1 });
    const realNow = Date.now;
    Date.now = () => realNow() - 1_000;
    try {
      disk.free();
      await waitFor(() => journal.stats().writing, 3_000, "the journal written again by its retry timer");
    } finally {
      Date.now = realNow;
    }
    expect(journal.stats()).toMatchObject({ unwritten: 0, notJournaled: 0 });
  });

  test("past the memory bound the waiting entries are given up as one gap, kept across a restart", async () => {
    const { disk, open } = setUp(32 * 1024 * 1024);
    const journal = open();
    const before = [line(0), line(1)];
    for (const text of before) journal.append(text);
    journal.flush();
    disk.fill();
    // 24 entries of 1 MiB: more than the 16 MiB kept in memory.
    const lost = Array.from({ length: 24 }, (_, i) => line(10 + i, 1024 * 1024));
    for (const text of lost) {
      journal.append(text);
      journal.flush();
    }
    const { notJournaled, unwritten } = journal.stats();
    expect(notJournaled).toBeGreaterThan(0);
    expect(notJournaled + unwritten).toBe(24);
    disk.free();
    await waitFor(() => journal.stats().writing, 5_000, "the journal written again");
    const after = [line(100), line(101)];
    for (const text of after) journal.append(text);
    journal.flush();
    const kept = lost.slice(notJournaled);
    const expected: JournalLine[] = [
      ...asRead(before),
      { seq: 3, line: null, until: 3 + notJournaled, reason: NOT_JOURNALED },
      ...asRead([...kept, ...after], 3 + notJournaled),
    ];
    expect(await readAll(journal)).toEqual(expected);
    expect(journal.endSeq()).toBe(3 + 24 + 2);
    journal.close();
    const reopened = open();
    expect(reopened.endSeq()).toBe(3 + 24 + 2);
    expect(await readAll(reopened)).toEqual(expected);
  }, 20_000);

  test("closed while the disk is full, it says how many entries it could not write and retries no more", async () => {
    const { disk, open, logged } = setUp(1024 * 1024);
    const journal = open();
    disk.fill();
    for (let i = 0; i < 5; i++) journal.append(line(i, 4096));
    journal.flush();
    journal.close();
    expect(logged.at(-1)).toEqual({
      level: "error",
      message: "5 entries could not be journaled before shutdown",
    });
    const failures = journal.stats().writeFailures;
    disk.free();
    // A retry after close would write (the disk has room again) and log its recovery.
    await Bun.sleep(500);
    expect(journal.stats().writeFailures).toBe(failures);
    expect(logged.filter((l) => l.level === "info")).toEqual([]);
  });
});
