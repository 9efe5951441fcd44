/**
 * The journal's writer and reader on real files: what the writer can produce, the reader reads whole; what it
 * cannot (a damaged line, a line longer than any entry) comes back as a gap, never as an error.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LogEntry } from "../../src/logs/entry.ts";
import { type Journal, openJournal } from "../../src/logs/journal.ts";
import { type JournalLine, UNREADABLE_LINE } from "../../src/logs/journal-lines.ts";
import { JOURNAL_READ_CHUNK_BYTES, readJournal } from "../../src/logs/journal-read.ts";
import { rawEntry } from "../../src/logs/parse.ts";
import { MAX_JOURNAL_LINE_BYTES, serializeEntry } from "../../src/logs/serialize.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempJournal(): Journal {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-journal-"));
  dirs.push(dir);
  return openJournal({ dir, segmentBytes: 64 * 1024 * 1024, maxBytes: 1024 * 1024 * 1024, log: () => {} });
}

async function readAll(journal: Journal, fromSeq = journal.startSeq()): Promise<JournalLine[]> {
  const out: JournalLine[] = [];
  for await (const batch of readJournal(journal, fromSeq)) out.push(...batch);
  return out;
}

/** An entry with exactly this message: built, not parsed (parsing strips control characters). */
function entryWith(message: string): LogEntry {
  return { ...rawEntry("", "2026-11-23T10:00:00.000Z"), message };
}

describe("serialised entries stay within the journal's line bound", () => {
  const cases: Array<[string, string, boolean]> = [
    ["a 1 MiB message of plain text is kept whole", "x".repeat(1024 * 1024), false],
    [
      "a 1 MiB message of control characters, six bytes each escaped, is kept whole",
      "\u0001".repeat(1024 * 1024),
      false,
    ],
    ["a 1 MiB message of lone surrogates is kept whole", "\ud800".repeat(1024 * 1024), false],
    ["a 3 MiB message of control characters is cut and marked", "\u0001".repeat(3 * 1024 * 1024), true],
    ["a 10 MB message of three-byte characters is cut and marked", "€".repeat(10_000_000), true],
  ];
  for (const [name, message, cut] of cases) {
    test(name, () => {
      const json = serializeEntry(entryWith(message), false);
      expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_JOURNAL_LINE_BYTES);
      const back = JSON.parse(json) as LogEntry;
      if (cut) {
        expect(back.truncated).toBe(true);
        expect(message.startsWith(back.message)).toBe(true);
        expect(back.message.length).toBeGreaterThan(0);
      } else {
        expect(back.truncated).toBeUndefined();
        expect(back.message).toBe(message);
      }
    });
  }
});

describe("reading the journal", () => {
  test("a line longer than one read step, within the writer's bound, is read whole", async () => {
    const journal = tempJournal();
    const long = serializeEntry(entryWith("\u0001".repeat(1024 * 1024)), false);
    expect(Buffer.byteLength(long)).toBeGreaterThan(6 * 1024 * 1024);
    const short = serializeEntry(entryWith("after"), false);
    journal.append(long);
    journal.append(short);
    journal.flush();
    expect(await readAll(journal)).toEqual([
      { seq: 1, line: long },
      { seq: 2, line: short },
    ]);
  });

  test("readers stepping at once each get their own lines, whatever the other read meanwhile", async () => {
    // Each reader keeps one buffer for its steps, and a step lets the event loop turn between its read and its
    // decode: a buffer shared by two readers would hand one of them the other's bytes. Lines appended unchecked
    // are checked line by line when read, the rest by their batch's checksum.
    const journal = tempJournal();
    const written: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const line = serializeEntry(entryWith(`${i} ${"y".repeat(i % 300)}`), false);
      journal.append(line, i % 7 !== 0);
      written.push(line);
      if (i % 50 === 49) journal.flush();
    }
    journal.flush();
    const first = readJournal(journal, 1);
    const second = readJournal(journal, 1201);
    const read: [JournalLine[], JournalLine[]] = [[], []];
    let open = 2;
    while (open > 0) {
      const steps = await Promise.all([first.next(), second.next()]);
      open = 0;
      for (const [i, step] of steps.entries()) {
        if (step.done === true) continue;
        open++;
        read[i]?.push(...step.value);
      }
    }
    expect(read[0]).toEqual(written.map((line, i) => ({ seq: i + 1, line })));
    expect(read[1]).toEqual(written.slice(1200).map((line, i) => ({ seq: i + 1201, line })));
    journal.close();
  });

  test("a line longer than any the writer produces is one gap, and the lines around it are read", async () => {
    const journal = tempJournal();
    const before = serializeEntry(entryWith("before"), false);
    const after = serializeEntry(entryWith("after"), false);
    journal.append(before);
    journal.append(`{"message":"${"x".repeat(MAX_JOURNAL_LINE_BYTES + 10)}"}`);
    journal.append(after);
    journal.flush();
    expect(await readAll(journal)).toEqual([
      { seq: 1, line: before },
      { seq: 2, line: null, until: 3, reason: UNREADABLE_LINE },
      { seq: 3, line: after },
    ]);
  });

  const damaged: Array<[string, string]> = [
    ["text that is not JSON", "not json at all"],
    ["a line of zeros, as a crash can leave", "\u0000".repeat(4096)],
    ["a JSON value that is not an object", "[1,2,3]"],
    ["an object cut short", '{"timestamp":"2026-11-23T10:00:00Z","message":"half'],
    ["an empty line", ""],
    ["an object ended by a carriage return", '{"message":"x"}\r'],
    ["an object left open, its line ending in a brace", '{"message":{}'],
  ];
  for (const [name, line] of damaged) {
    test(`${name} is reported as a gap, not returned as an entry`, async () => {
      const journal = tempJournal();
      const good = serializeEntry(entryWith("good"), false);
      journal.append(line);
      journal.append(good);
      journal.flush();
      expect(await readAll(journal)).toEqual([
        { seq: 1, line: null, until: 2, reason: UNREADABLE_LINE },
        { seq: 2, line: good },
      ]);
    });
  }
});

describe("reading from a recent seq", () => {
  test("a reader starts at exactly the asked seq after thousands of batches, across segments and after retention", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hookstream-journal-"));
    dirs.push(dir);
    // Small segments and retention, so line starts refer to segments that rolled or were deleted.
    const journal = openJournal({ dir, segmentBytes: 64 * 1024, maxBytes: 512 * 1024, log: () => {} });
    const batches = 10_000; // more than the line starts the journal remembers
    for (let i = 0; i < batches; i++) {
      journal.append(JSON.stringify({ n: i }));
      if (i % 3 !== 0) journal.append(JSON.stringify({ n: i, second: true }));
      journal.flush();
    }
    const lineOf = async (seq: number) => (await readJournal(journal, seq).next()).value?.[0];
    const newest = journal.endSeq() - 1;
    for (const seq of [newest, newest - 1, newest - 777, journal.startSeq(), journal.startSeq() + 1]) {
      const first = await lineOf(seq);
      const all = await readAll(journal);
      expect(first).toEqual(all.find((line) => line.seq === seq));
    }
    journal.close();
  });
});

describe("batches read back unchanged", () => {
  test("a damaged byte in a batch of serialised entries makes its line a gap, the rest come back as written", async () => {
    const journal = tempJournal();
    const lines = ["one", "two", "three"].map((message) => serializeEntry(entryWith(message), false));
    for (const line of lines) journal.append(line, true);
    journal.flush();
    const segment = journal.segments().at(-1)?.path as string;
    // The first quote of the middle line, so it is no JSON any more; same length, so later seqs hold.
    const at = Buffer.byteLength(lines[0] as string) + 1 + 1;
    const fd = openSync(segment, "r+");
    writeSync(fd, "#", at);
    closeSync(fd);
    // A later batch, so the damaged one is read from the disk (the newest is served from memory, below).
    const later = serializeEntry(entryWith("four"), false);
    journal.append(later, true);
    journal.flush();
    expect(await readAll(journal)).toEqual([
      { seq: 1, line: lines[0] as string },
      { seq: 2, line: null, until: 3, reason: UNREADABLE_LINE },
      { seq: 3, line: lines[2] as string },
      { seq: 4, line: later },
    ]);
    journal.close();
  });

  test("a read step ends with the last batch it holds whole: the batch its chunk cuts comes whole in the next step", async () => {
    const journal = tempJournal();
    const perBatch = 10;
    // Batches of about 0.4 read steps, so a step's chunk holds two whole and cuts the third.
    const message = "x".repeat(Math.floor((0.4 * JOURNAL_READ_CHUNK_BYTES) / perBatch));
    const written: string[] = [];
    for (let batch = 0; batch < 12; batch++) {
      for (let i = 0; i < perBatch; i++) {
        const line = serializeEntry(entryWith(`${batch}.${i} ${message}`), false);
        journal.append(line, true);
        written.push(line);
      }
      journal.flush();
    }
    const stepEnds: number[] = [];
    const read: JournalLine[] = [];
    for await (const step of readJournal(journal, 1)) {
      read.push(...step);
      stepEnds.push((step.at(-1)?.seq ?? 0) + 1);
    }
    expect(read).toEqual(written.map((line, i) => ({ seq: i + 1, line })));
    expect(stepEnds.length).toBeGreaterThan(1);
    for (const end of stepEnds) expect((end - 1) % perBatch).toBe(0);
    journal.close();
  });

  test("a read that starts in the newest batch of serialised entries gets it from memory, as appended", async () => {
    const journal = tempJournal();
    const older = serializeEntry(entryWith("zero"), false);
    journal.append(older, true);
    journal.flush();
    const lines = ["one", "two"].map((message) => serializeEntry(entryWith(message), false));
    for (const line of lines) journal.append(line, true);
    journal.flush();
    const segment = journal.segments().at(-1)?.path as string;
    // Damage the first line of each batch on the disk.
    const fd = openSync(segment, "r+");
    writeSync(fd, "#", 1);
    writeSync(fd, "#", Buffer.byteLength(older) + 1 + 1);
    closeSync(fd);
    // From the newest batch's first line, and from its middle: memory, as appended.
    expect(await readAll(journal, 2)).toEqual([
      { seq: 2, line: lines[0] as string },
      { seq: 3, line: lines[1] as string },
    ]);
    expect(await readAll(journal, 3)).toEqual([{ seq: 3, line: lines[1] as string }]);
    // From an older batch the step reads on from the disk, and its damage shows.
    expect(await readAll(journal, 1)).toEqual([
      { seq: 1, line: null, until: 2, reason: UNREADABLE_LINE },
      { seq: 2, line: null, until: 3, reason: UNREADABLE_LINE },
      { seq: 3, line: lines[1] as string },
    ]);
    expect(await readAll(journal, 4)).toEqual([]);
    journal.close();
  });
});
