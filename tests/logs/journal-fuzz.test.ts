/**
 * Property tests of the journal's round trip. Whatever line the follower accepts (any bytes, invalid UTF-8,
 * sizes around every read and line limit), the entry streamed live comes back from the journal reader equal;
 * whatever a segment holds, the reader returns each line or a gap for it and never throws.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { MAX_ENTRY_CHARS } from "../../src/logs/assemble.ts";
import { MAX_LINE_BYTES, READ_CHUNK_BYTES } from "../../src/logs/follow.ts";
import { openJournal } from "../../src/logs/journal.ts";
import type { JournalLine } from "../../src/logs/journal-lines.ts";
import { JOURNAL_READ_CHUNK_BYTES, readJournal } from "../../src/logs/journal-read.ts";
import { rawEntry } from "../../src/logs/parse.ts";
import { createLogPipeline } from "../../src/logs/pipeline.ts";
import { MAX_JOURNAL_LINE_BYTES, serializeEntry } from "../../src/logs/serialize.ts";
import { loadConfig } from "../../src/process/config.ts";
import { waitFor } from "../helpers/ws.ts";

const root = mkdtempSync(join(tmpdir(), "hookstream-journal-fuzz-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Sizes on both sides of every limit a line meets on its way: the follower's reads, its cut, the journal's. */
const LIMITS = [
  64 * 1024, // the follower's positioned small reads
  READ_CHUNK_BYTES,
  MAX_LINE_BYTES,
  MAX_ENTRY_CHARS,
  JOURNAL_READ_CHUNK_BYTES,
  Math.floor(JOURNAL_READ_CHUNK_BYTES / 6), // a line of control characters escapes to six times its size
];
const size = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.constantFrom(...LIMITS).chain((limit) => fc.integer({ min: limit - 3, max: limit + 3 })),
);

const PREFIXES = [
  "",
  "2026-11-23T10:00:00.123456 GithubWebhook INFO org/repo [push][hook-1][octocat]: ",
  '{"timestamp":"2026-11-23T10:00:00Z","level":"ERROR","hook_id":"h","message":"',
  "{",
];

/** One line of any bytes: a prefix that parses, then a byte pattern repeated to the size (no newline). */
const line = fc
  .record({
    prefix: fc.constantFrom(...PREFIXES),
    pattern: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    size,
  })
  .map(({ prefix, pattern, size }) => {
    const bytes = new Uint8Array(size);
    const head = new TextEncoder().encode(prefix).subarray(0, size);
    bytes.set(head);
    for (let i = head.length; i < size; i++) bytes[i] = (pattern[i % pattern.length] as number) % 256;
    // Long lines stay one line, so a case costs one entry rather than a million tiny ones.
    if (size > 300) for (let i = 0; i < size; i++) if (bytes[i] === 10) bytes[i] = 11;
    return bytes;
  });

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false; // not JSON at all
  }
}

describe("the journal round trip", () => {
  test("every entry the follower streams comes back from the journal equal", async () => {
    const dataDir = join(root, "pipeline");
    const logDir = join(dataDir, "logs");
    mkdirSync(logDir, { recursive: true });
    const loaded = loadConfig({ DATA_DIR: dataDir, LOG_POLL_INTERVAL_MS: "20" });
    if (!loaded.ok) throw new Error(loaded.problems.join("; "));
    const streamed = new Map<string, string>();
    const pipeline = await createLogPipeline(
      loaded.config,
      (_topic, payload) => streamed.set((JSON.parse(payload) as { cursor: string }).cursor, payload),
      () => {},
    );
    pipeline.hub.subscribe({}, { bufferedAmount: () => 0, onLag: () => {} });
    await pipeline.start();
    const { journal } = pipeline;
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(line, { minLength: 1, maxLength: 4 }),
          fc.boolean(),
          async (lines, json) => {
            const path = join(logDir, `case-${run++}.${json ? "json" : "log"}`);
            const from = journal.endSeq();
            streamed.clear();
            for (const bytes of lines) appendFileSync(path, Buffer.concat([bytes, Buffer.from("\n")]));
            const size = statSync(path).size;
            // Once the follower's offset reaches the end, that read's entries are emitted and journaled.
            await waitFor(
              () => pipeline.follower.stats().files.some((f) => f.path === path && f.offset === size),
              20_000,
              `${path} read`,
            );
            const read: JournalLine[] = [];
            for await (const batch of readJournal(journal, from)) read.push(...batch);
            // Every entry the writer makes fits the reader's bound: nothing comes back as a gap.
            expect(read.filter((item) => item.line === null)).toEqual([]);
            expect(read.map((item) => item.seq)).toEqual(
              Array.from({ length: journal.endSeq() - from }, (_, i) => from + i),
            );
            expect(read.map((item) => item.line)).toEqual(
              read.map((item) => streamed.get(journal.cursorOf(item.seq)) ?? null),
            );
            expect(streamed.size).toBe(read.length);
            for (const item of read)
              expect(Buffer.byteLength(item.line as string)).toBeLessThanOrEqual(MAX_JOURNAL_LINE_BYTES);
          },
        ),
        { numRuns: 40 },
      );
    } finally {
      pipeline.stop();
      await pipeline.close();
    }
  }, 180_000);

  test("whatever a segment holds, each line comes back as written or as a gap, never an error", async () => {
    const text = fc.string({ unit: "binary", maxLength: 200 }).map((s) => s.replace(/\n/g, " "));
    const written = fc.oneof(
      text.map((s) => serializeEntry(rawEntry(s, "2026-11-23T10:00:00.000Z"), false)),
      text,
      fc.json().map((json) => json.replace(/\n/g, " ")),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(written, { minLength: 1, maxLength: 30 }), async (lines) => {
        const journal = openJournal({
          dir: join(root, `segments-${run++}`),
          segmentBytes: 2048,
          maxBytes: 1024 * 1024 * 1024,
          log: () => {},
        });
        try {
          for (const entry of lines) journal.append(entry);
          journal.flush();
          const read: JournalLine[] = [];
          for await (const batch of readJournal(journal, journal.startSeq())) read.push(...batch);
          expect(read.map((item) => item.seq)).toEqual(lines.map((_, i) => i + 1));
          for (const [i, item] of read.entries()) {
            if (item.line === null) expect(item.until).toBe(item.seq + 1);
            else expect(item.line).toBe(lines[i] as string);
          }
          // Every serialised entry is read back; only what is not an entry becomes a gap.
          for (const [i, item] of read.entries())
            expect(item.line !== null).toBe(isJsonObject(lines[i] as string));
        } finally {
          journal.close();
        }
      }),
      { numRuns: 200 },
    );
  });
});
