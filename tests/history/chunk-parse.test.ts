/**
 * A history chunk of JSON lines parsed in one call gives what the same chunk gives line by line: the same
 * entries, offsets and, for a raw entry, the timestamp of the entry before it. A blank line at the end makes
 * the one-call parse decline the chunk (see json-chunk.ts) and adds no entry, so each case runs both ways.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type ChunkSource, parseChunk } from "../../src/history/chunk-parse.ts";
import { parseObjectLines } from "../../src/logs/json-chunk.ts";

const SHARED_FIXTURE = join(
  import.meta.dir,
  "../../../shared/fixtures/gws-live/logs/webhooks_2026-12-02.json",
);
const OPTIONS = { naiveZone: "+00:00" };
const SOURCE: ChunkSource = {
  identity: "file-1",
  format: "json",
  lastTimestamp: "2026-12-01T23:59:59.000000+00:00",
};

/** The chunk parsed in one call, and the same chunk with a blank line added, which goes line by line. */
function bothWays(bytes: Uint8Array, base: number) {
  const lineByLine = new Uint8Array([...bytes, 10]);
  expect(parseObjectLines(bytes, 0, bytes.length)).not.toBeNull();
  expect(parseObjectLines(lineByLine, 0, lineByLine.length)).toBeNull();
  return {
    whole: parseChunk(SOURCE, bytes, base, OPTIONS, (entry) => entry),
    lines: parseChunk(SOURCE, lineByLine, base, OPTIONS, (entry) => entry),
  };
}

describe("history chunks of JSON lines", () => {
  test("the processor's own file (gws-live): the same entries and offsets both ways", () => {
    const { whole, lines } = bothWays(readFileSync(SHARED_FIXTURE), 4096);
    expect(whole.length).toBeGreaterThan(100);
    expect(whole).toEqual(lines);
  });

  test("an object that is no record is a raw entry at the timestamp before it, both ways", () => {
    const record =
      '{"type":"log_entry","timestamp":"2026-12-02T10:00:00.000001+00:00","level":"INFO","message":"a"}';
    const bytes = new TextEncoder().encode(`{"other":1}\n${record}\n{"other":"é"}\r\n`);
    const { whole, lines } = bothWays(bytes, 0);
    expect(whole).toEqual(lines);
    expect(whole.map(({ entry }) => [entry.level, entry.timestamp, entry.message])).toEqual([
      ["UNKNOWN", SOURCE.lastTimestamp, '{"other":1}'],
      ["INFO", "2026-12-02T10:00:00.000001+00:00", "a"],
      ["UNKNOWN", "2026-12-02T10:00:00.000001+00:00", '{"other":"é"}'],
    ]);
    expect(whole.map(({ offset }) => offset)).toEqual([0, 12, 12 + record.length + 1]);
  });
});
