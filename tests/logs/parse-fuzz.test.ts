/** Property tests: no input crashes or hangs the parser, and nothing fed to the assembler disappears. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createLineAssembler } from "../../src/logs/assemble.ts";
import type { LogEntry } from "../../src/logs/entry.ts";
import { parseJsonLine, parseTextLine, stripAnsi } from "../../src/logs/parse.ts";
import { redactSecrets } from "../../src/logs/redact.ts";

const options = { naiveZone: "Z" };
const NOW = "2026-11-23T00:00:00.000Z";

/** Strings that look like log lines more often than uniform noise would. */
const lineLike = fc.oneof(
  fc.string({ unit: "binary", maxLength: 300 }),
  fc
    .tuple(
      fc.constantFrom(
        "2026-11-23T10:00:00",
        "2026-11-23T10:00:00.123456",
        "2026-13-45T25:70:99",
        "2026-11-23T10:00:00+02:00",
        "",
      ),
      fc.constantFrom(" GithubWebhook ", " x ", "  "),
      fc.constantFrom("INFO", "ERROR", "\u001b[32mINFO\u001b[0m", ""),
      fc.constantFrom(" org/repo [push][h1][u][PR 5]: ", " r [a\\]][b][c]: ", " [task_id=x\\]] ", " "),
      fc.string({ unit: "grapheme", maxLength: 80 }),
    )
    .map((parts) => parts.join("")),
  fc.json().map((json) => json.replace(/\n/g, " ")),
  fc
    .record({
      type: fc.constantFrom("log_entry", "webhook_summary", undefined),
      timestamp: fc.oneof(fc.constantFrom("2026-11-23T10:00:00Z", "2026-11-23 10:00:00", "bad"), fc.string()),
      message: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
      pr_number: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
      timing: fc.oneof(fc.record({ started_at: fc.string() }), fc.constant(null)),
    })
    .map((record) => JSON.stringify(record)),
);

const roundTrips = (entry: LogEntry) => JSON.parse(JSON.stringify(entry)) as LogEntry;

describe("parser properties", () => {
  test("parseTextLine never throws and yields a well-formed entry or null", () => {
    fc.assert(
      fc.property(lineLike, (line) => {
        const entry = parseTextLine(line, options);
        if (entry === null) return;
        expect(typeof entry.timestamp).toBe("string");
        expect(typeof entry.message).toBe("string");
        expect(entry.pr_number === null || Number.isSafeInteger(entry.pr_number)).toBe(true);
        roundTrips(entry);
      }),
      { numRuns: 2000 },
    );
  });

  test("parseJsonLine always yields an entry, raw when the line is not a record it knows", () => {
    fc.assert(
      fc.property(lineLike, (line) => {
        const entry = parseJsonLine(line, options, NOW);
        expect(typeof entry.level).toBe("string");
        // The assembler never passes blank lines; any other line that is not a record is kept as the message
        // (less its terminal control sequences: a line of nothing else has nothing left to show).
        if (entry.level === "UNKNOWN" && stripAnsi(line).trim().length > 0)
          expect(entry.message.length).toBeGreaterThan(0);
        roundTrips(entry);
      }),
      { numRuns: 2000 },
    );
  });

  test("every record line starts one entry and every other non-blank line is kept verbatim", () => {
    fc.assert(
      fc.property(fc.array(lineLike, { maxLength: 30 }), (lines) => {
        const out: LogEntry[] = [];
        const assembler = createLineAssembler("text", options, (entry) => out.push(entry));
        const clean = lines.map((line) => line.replace(/[\r\n]/g, " "));
        for (const line of clean) assembler.push(line, NOW);
        assembler.flush();
        const records = clean.filter((line) => parseTextLine(line, options) !== null).length;
        expect(out.length).toBeGreaterThanOrEqual(records);
        const messages = out.map((entry) => entry.message).join("\n");
        for (const line of clean) {
          if (parseTextLine(line, options) !== null || line.trim().length === 0) continue;
          expect(messages).toContain(stripAnsi(line).trimEnd());
        }
      }),
      { numRuns: 500 },
    );
  });

  test("redaction keeps serialised entries valid JSON", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }),
        fc.constantFrom("ghp_", "token ", "Authorization: Bearer ", "github_pat_", ""),
        (text, prefix) => {
          const json = JSON.stringify({ message: `${prefix}${text}`, token_spend: null });
          expect(() => JSON.parse(redactSecrets(json))).not.toThrow();
        },
      ),
      { numRuns: 2000 },
    );
  });
});
