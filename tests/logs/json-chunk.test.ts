/**
 * A JSON-lines read step parsed in one native call: taken only where every line is one object, and then the
 * same entries, positions and raw fallbacks as line by line, for the processor's own output and for lines
 * that are not what it writes.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createLineAssembler } from "../../src/logs/assemble.ts";
import type { LogEntry } from "../../src/logs/entry.ts";
import { lineOf, parseObjectLines } from "../../src/logs/json-chunk.ts";

const SHARED_FIXTURE = join(
  import.meta.dir,
  "../../../shared/fixtures/gws-live/logs/webhooks_2026-12-02.json",
);
const OPTIONS = { naiveZone: "+00:00" };
const NOW = "2026-12-03T00:00:00.000000+00:00";
const bytesOf = (text: string) => new TextEncoder().encode(text);

describe("parseObjectLines", () => {
  const taken: { name: string; bytes: Uint8Array; values: unknown[]; starts: number[] }[] = [
    { name: "one object", bytes: bytesOf('{"a":1}\n'), values: [{ a: 1 }], starts: [0] },
    {
      name: "objects, one a line",
      bytes: bytesOf('{"a":1}\n{}\n{"b":{"c":[1,"}"]}}\n'),
      values: [{ a: 1 }, {}, { b: { c: [1, "}"] } }],
      starts: [0, 8, 11],
    },
    {
      name: "lines ended by CRLF",
      bytes: bytesOf('{"a":1}\r\n{"b":2}\r\n'),
      values: [{ a: 1 }, { b: 2 }],
      starts: [0, 9],
    },
    {
      name: "multi-byte text",
      bytes: bytesOf('{"m":"café 日本 🙂"}\n{"n":2}\n'),
      values: [{ m: "café 日本 🙂" }, { n: 2 }],
      starts: [0, 26],
    },
    {
      name: "a byte that is not UTF-8, replaced as the text decoder does",
      bytes: new Uint8Array([...bytesOf('{"m":"a'), 0xff, ...bytesOf('b"}\n')]),
      values: [{ m: "a\uFFFDb" }],
      starts: [0],
    },
  ];
  for (const { name, bytes, values, starts } of taken)
    test(`taken: ${name}`, () => {
      expect(parseObjectLines(bytes, 0, bytes.length)).toEqual({ values, starts });
    });

  test("a window of the bytes: positions stay offsets into the whole array", () => {
    const bytes = bytesOf('cut tail of a long line\n{"a":1}\n{"b":2}\n');
    expect(parseObjectLines(bytes, 24, bytes.length)).toEqual({
      values: [{ a: 1 }, { b: 2 }],
      starts: [24, 32],
    });
  });

  test("each line's text, without its carriage return, as a line-by-line reader has it", () => {
    const bytes = bytesOf('{"m":"é"}\r\n{"n":2}\n');
    const lines = parseObjectLines(bytes, 0, bytes.length);
    if (lines === null) throw new Error("not taken");
    expect(lines.starts.map((start) => lineOf(bytes, start))).toEqual(['{"m":"é"}', '{"n":2}']);
  });

  const refused: { name: string; text: string }[] = [
    { name: "a blank line between objects", text: '{"a":1}\n\n{"b":2}\n' },
    { name: "a line of spaces", text: '{"a":1}\n   \n' },
    { name: "a pretty-printed record", text: '{\n  "a": 1\n}\n' },
    { name: "two objects on one line", text: '{"a":1} {"b":2}\n' },
    { name: "an object and a stray brace", text: '{"a":1}}\n' },
    { name: "a line that is not JSON", text: '{"a":1}\n{not json}\n' },
    { name: "an array line", text: '{"a":1}\n[1,2]\n' },
    { name: "a line starting with a space", text: ' {"a":1}\n' },
    { name: "a string line", text: '"text"\n' },
    { name: "a lone brace", text: "{\n" },
    { name: "no final newline", text: '{"a":1}\n{"b":2}' },
    { name: "nothing", text: "" },
    { name: "a control character inside a string", text: '{"a":"x\u0001"}\n' },
    // Not an error to the native parser but an unfinished value: without the count, the line would be lost.
    { name: "an object left open", text: '{"a":1}\n{"b":{}\n' },
  ];
  for (const { name, text } of refused)
    test(`refused: ${name}`, () => {
      const bytes = bytesOf(text);
      expect(parseObjectLines(bytes, 0, bytes.length)).toBeNull();
    });
});

/** Every entry an assembler emits for `lines`, pushed one by one or, where given, already parsed. */
function assemble(lines: string[], parsed: unknown[] | null): [LogEntry, number][] {
  const out: [LogEntry, number][] = [];
  const assembler = createLineAssembler("json", OPTIONS, (entry, position) => out.push([entry, position]));
  let position = 0;
  lines.forEach((line, i) => {
    if (parsed === null) assembler.push(line, NOW, position);
    else assembler.pushParsed(parsed[i], () => line, NOW, position);
    position += Buffer.byteLength(line) + 1;
  });
  assembler.flush();
  return out;
}

describe("parsed lines give the entries of the line-by-line path", () => {
  test("the processor's own JSON lines (the gws-live run)", () => {
    const bytes = readFileSync(SHARED_FIXTURE);
    const lines = new TextDecoder().decode(bytes).split("\n").slice(0, -1);
    const parsed = parseObjectLines(bytes, 0, bytes.length);
    expect(parsed).not.toBeNull();
    expect(parsed?.values.length).toBe(lines.length);
    expect(assemble(lines, parsed?.values ?? [])).toEqual(assemble(lines, null));
  });

  test("objects that are not the processor's records become raw entries with their text", () => {
    const lines = ['{"type":"other","x":1}', "{}", '{"type":"log_entry","timestamp":"not a time"}'];
    const bytes = bytesOf(`${lines.join("\n")}\n`);
    const parsed = parseObjectLines(bytes, 0, bytes.length);
    expect(parsed).not.toBeNull();
    const fast = assemble(lines, parsed?.values ?? []);
    expect(fast.map(([entry]) => entry.level)).toEqual(["UNKNOWN", "UNKNOWN", "UNKNOWN"]);
    expect(fast.map(([entry]) => entry.message)).toEqual(lines);
    expect(fast).toEqual(assemble(lines, null));
  });

  test("a parsed line while a pretty-printed record is open joins that record, as its text would", () => {
    const entries: LogEntry[] = [];
    const assembler = createLineAssembler("json", OPTIONS, (entry) => entries.push(entry));
    assembler.push("{", NOW);
    assembler.pushParsed({ a: 1 }, () => '"type": "log_entry", "x": {"a": 1}', NOW);
    assembler.push("}", NOW);
    expect(entries.map((entry) => entry.level)).toEqual(["UNKNOWN", "UNKNOWN", "UNKNOWN"]);
    expect(entries[1]?.message).toBe('"type": "log_entry", "x": {"a": 1}');
  });
});
