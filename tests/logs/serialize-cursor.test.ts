/**
 * The mirror publishes an entry from the JSON the shared stream carries, with its cursor spliced in, instead
 * of serialising the parsed entry again: the payload must be exactly what serializeEntry gives, for any
 * entry the stream can hold.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { LogEntry } from "../../src/logs/entry.ts";
import { MAX_JOURNAL_LINE_BYTES, serializeEntry, serializeWithCursor } from "../../src/logs/serialize.ts";
import { makeEntry } from "../helpers/entries.ts";

const CURSOR = "0a1b2c3d-1f";

/** What the mirror does: parse the stream's JSON, set the cursor, build the payload from both. */
function fromStream(json: string, redact: boolean): string {
  const entry = JSON.parse(json) as LogEntry;
  entry.cursor = CURSOR;
  return serializeWithCursor(entry, json, redact);
}

/** What the hub did before: serialise the parsed entry with its cursor. */
function reserialised(json: string, redact: boolean): string {
  const entry = JSON.parse(json) as LogEntry;
  entry.cursor = CURSOR;
  return serializeEntry(entry, redact);
}

const cases: Array<[string, LogEntry]> = [
  ["a plain entry", makeEntry({ message: "Processing webhook", hook_id: "h-1", pr_number: 12 })],
  [
    "an entry with a token in its message",
    makeEntry({ message: "clone https://x:ghp_abcdefghijklmnop1234@h" }),
  ],
  ["an entry with control characters and quotes", makeEntry({ message: 'a\u0001b\n"c"\\d\u001b[31m' })],
  [
    "an entry with astral and lone surrogate characters",
    makeEntry({ message: "\ud83d\ude00 \ud800 x \udc00" }),
  ],
  [
    "an entry with a summary and a truncated mark",
    makeEntry({
      summary: {
        action: "opened",
        success: true,
        pr_title: 'a "title"',
        started_at: null,
        completed_at: null,
        duration_ms: 1200,
        workflow_steps: [{ name: "x", status: "ok" }],
        error: null,
      },
      truncated: true,
    }),
  ],
  ["an entry just under the length bound", makeEntry({ message: "x".repeat(MAX_JOURNAL_LINE_BYTES - 400) })],
  ["an entry over the length bound once it has a cursor", makeEntry({ message: "é".repeat(6_500_000) })],
];

describe("an entry published from the stream's JSON", () => {
  for (const [name, entry] of cases) {
    for (const redact of [true, false]) {
      test(`${name} (masking ${redact ? "on" : "off"}) is what serialising it again gives`, () => {
        const json = serializeEntry(entry, redact);
        expect(fromStream(json, redact)).toBe(reserialised(json, redact));
      });
    }
  }

  test("an unmasked stream entry is masked by a mirror that masks", () => {
    const json = serializeEntry(makeEntry({ message: "token=abcdefghijklmnopqrstuvwxyz0123" }), false);
    const payload = fromStream(json, true);
    expect(payload).not.toContain("abcdefghijklmnopqrstuvwxyz0123");
    expect(payload).toBe(reserialised(json, true));
  });

  test("masked JSON is not scanned again: the payload is what the appender's instance streams itself", () => {
    // What an instance that masks streams for an entry it publishes itself (embedded mode, or the writer's own).
    const streamedLocally = (entry: LogEntry) => serializeEntry({ ...entry, cursor: CURSOR }, true);
    // An entry cut to the length bound is cut without its cursor on the way through the stream, so its
    // `truncated` key comes before the cursor there; masking is not what differs.
    for (const [name, entry] of cases.filter(([name]) => !name.includes("over the length bound")))
      expect(fromStream(serializeEntry(entry, true), false), name).toBe(streamedLocally(entry));
    const text = fc.string({ unit: "binary", maxLength: 200 });
    const secretish = fc.constantFrom(
      "",
      "token=",
      "ghp_",
      "Authorization: Bearer ",
      "github_pat_",
      "token ",
    );
    fc.assert(
      fc.property(secretish, text, fc.string({ unit: "binary", maxLength: 60 }), (prefix, rest, middle) => {
        const entry = makeEntry({ message: `${middle}${prefix}${rest}` });
        expect(fromStream(serializeEntry(entry, true), false)).toBe(streamedLocally(entry));
      }),
      { numRuns: 500 },
    );
  });

  test("masking twice is not masking once: the mirror's second scan changed what the writer had masked", () => {
    const entry = makeEntry({ message: "Authorization: Bearer (" });
    const json = serializeEntry(entry, true);
    expect(fromStream(json, true)).not.toBe(fromStream(json, false));
    expect(fromStream(json, false)).toContain("Authorization: Bearer *****");
  });

  test("JSON with space around the object is serialised in full", () => {
    const json = ` ${serializeEntry(makeEntry(), false)}\n`;
    expect(fromStream(json, false)).toBe(reserialised(json, false));
  });

  test("any entry gives the same payload both ways", () => {
    const text = fc.string({ unit: "binary", maxLength: 200 });
    const nullable = fc.option(text, { nil: null });
    fc.assert(
      fc.property(
        text,
        text,
        nullable,
        nullable,
        fc.option(fc.integer(), { nil: null }),
        fc.boolean(),
        (...v) => {
          const [message, level, hook, repository, pr, redact] = v;
          const entry = makeEntry({ message, level, hook_id: hook, repository, pr_number: pr });
          const json = serializeEntry(entry, redact);
          expect(fromStream(json, redact)).toBe(reserialised(json, redact));
        },
      ),
      { numRuns: 500 },
    );
  });

  test("any cursor is quoted as JSON.stringify quotes it: plain ones by hand, others escaped", () => {
    const json = serializeEntry(makeEntry({ message: "m" }), false);
    const cursors = fc.oneof(
      fc.constantFrom("0a1b2c3d-1f", "", 'a"b', "a\\b", "a\u0001b", "\ud800", "é"),
      fc.string({ unit: "binary", maxLength: 20 }),
    );
    fc.assert(
      fc.property(cursors, (cursor) => {
        const entry = JSON.parse(json) as LogEntry;
        entry.cursor = cursor;
        expect(serializeWithCursor(entry, json, false)).toBe(serializeEntry(entry, false));
      }),
      { numRuns: 500 },
    );
  });
});
