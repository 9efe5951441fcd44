/**
 * A journal read step's bytes as lines (src/logs/journal-lines.ts): each line decoded on its own, checked as an
 * entry unless its batch came back with the checksum it was written with.
 */
import { describe, expect, test } from "bun:test";
import { checkedLinesOf, type JournalLine, linesOf, UNREADABLE_LINE } from "../../src/logs/journal-lines.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const gap = (seq: number): JournalLine => ({ seq, line: null, until: seq + 1, reason: UNREADABLE_LINE });

describe("lines of a read step", () => {
  const cases: Array<[string, string, boolean, JournalLine[]]> = [
    ["one line", '{"a":1}', true, [{ seq: 7, line: '{"a":1}' }]],
    [
      "lines in order, each its own seq",
      '{"a":1}\n{"b":"é ✓"}\n{"c":3}',
      true,
      [
        { seq: 7, line: '{"a":1}' },
        { seq: 8, line: '{"b":"é ✓"}' },
        { seq: 9, line: '{"c":3}' },
      ],
    ],
    [
      "a damaged line is a gap of its own, checked",
      '{"a":1}\n{"b":\n{"c":3}',
      true,
      [{ seq: 7, line: '{"a":1}' }, gap(8), { seq: 9, line: '{"c":3}' }],
    ],
    [
      "unchecked, any line is a line",
      '{"a":1}\nnot json',
      false,
      [
        { seq: 7, line: '{"a":1}' },
        { seq: 8, line: "not json" },
      ],
    ],
    ["an empty step is one empty line, a gap when checked", "", true, [gap(7)]],
  ];
  for (const [name, text, validate, lines] of cases)
    test(name, () => expect(linesOf(bytes(text), 7, validate)).toEqual(lines));

  test("a view into a larger buffer reads only its own bytes", () => {
    const whole = bytes('xx{"a":1}\n{"b":2}yy');
    expect(linesOf(whole.subarray(2, 17), 1, true)).toEqual([
      { seq: 1, line: '{"a":1}' },
      { seq: 2, line: '{"b":2}' },
    ]);
  });
});

describe("lines of a region with the batches written in it", () => {
  // Three batches of one line each, at offset 100 of a segment; the middle one is not JSON.
  const parts = ['{"a":1}\n', "plain text\n", '{"c":3}\n'];
  const region = bytes(parts.join(""));
  const batches = (checksumOfMiddle: number | null) => {
    let offset = 100;
    return parts.map((part, i) => {
      const batch = {
        offset,
        length: part.length,
        checksum: i === 1 ? checksumOfMiddle : Bun.hash.crc32(bytes(part)),
      };
      offset += part.length;
      return batch;
    });
  };

  test("a batch that comes back with its checksum is not checked line by line", () => {
    const lines = checkedLinesOf(batches(Bun.hash.crc32(bytes(parts[1] as string))), region, 100, 5);
    expect(lines).toEqual([
      { seq: 5, line: '{"a":1}' },
      { seq: 6, line: "plain text" },
      { seq: 7, line: '{"c":3}' },
    ]);
  });

  test("a batch whose bytes changed, or that has no checksum, is checked line by line", () => {
    for (const checksum of [12345, null])
      expect(checkedLinesOf(batches(checksum), region, 100, 5)).toEqual([
        { seq: 5, line: '{"a":1}' },
        gap(6),
        { seq: 7, line: '{"c":3}' },
      ]);
  });

  test("with no batches known, every line is checked", () => {
    expect(checkedLinesOf([], region, 100, 5)).toEqual([
      { seq: 5, line: '{"a":1}' },
      gap(6),
      { seq: 7, line: '{"c":3}' },
    ]);
  });
});
