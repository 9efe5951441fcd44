/**
 * The journal's batch encoder: the same bytes `Buffer.from` gives for the joined lines, whether they fit the
 * reused buffer, grow it, or pass the most it may grow to; bytes handed out earlier are the caller's to use
 * before the next batch only.
 */
import { describe, expect, test } from "bun:test";
import { createLineEncoder } from "../../src/logs/line-encoder.ts";

/** What the journal wrote before: the joined lines and a final newline (no bytes at all for no lines). */
const joined = (lines: readonly string[]) => Buffer.from(lines.map((line) => `${line}\n`).join(""));

describe("line encoder", () => {
  const cases: { name: string; lines: string[]; bufferBytes: number }[] = [
    { name: "one ASCII line", lines: ['{"a":1}'], bufferBytes: 64 },
    { name: "an empty line among others", lines: ["x", "", "y"], bufferBytes: 64 },
    { name: "two- and three-byte characters", lines: ["é ü", "日本語", "€"], bufferBytes: 64 },
    { name: "a character outside the BMP", lines: ["🙂 ok"], bufferBytes: 64 },
    { name: "a lone surrogate (replaced, as Buffer.from does)", lines: ["a\uD800b"], bufferBytes: 64 },
    { name: "lines filling the buffer to its last byte", lines: ["abc", "def"], bufferBytes: 8 },
    { name: "one byte more than the buffer holds", lines: ["abc", "defg"], bufferBytes: 8 },
    { name: "a line longer than the buffer", lines: ["x".repeat(100)], bufferBytes: 16 },
    { name: "an empty line after a full buffer", lines: ["abcdefg", ""], bufferBytes: 8 },
    { name: "a multi-byte character cut at the buffer's end", lines: ["abcdé"], bufferBytes: 7 },
    { name: "no lines", lines: [], bufferBytes: 8 },
  ];
  for (const { name, lines, bufferBytes } of cases) {
    test(`${name}: the buffer grown`, () => {
      const bytes = createLineEncoder(bufferBytes).encode(lines);
      expect(Buffer.from(bytes).equals(joined(lines))).toBe(true);
    });
    test(`${name}: bytes of its own past the bound`, () => {
      const bytes = createLineEncoder(bufferBytes, bufferBytes).encode(lines);
      expect(Buffer.from(bytes).equals(joined(lines))).toBe(true);
    });
  }

  const batches = [["first", "batch"], ["a much longer batch than the buffer holds"], ["third"]];
  /** Encodes the batches in a row, checking each one's bytes; the ArrayBuffers they came in. */
  const encodeInRow = (encoder: ReturnType<typeof createLineEncoder>) =>
    batches.map((batch) => {
      const bytes = encoder.encode(batch);
      expect(Buffer.from(bytes).equals(joined(batch))).toBe(true);
      return bytes.buffer;
    });

  test("a batch larger than the buffer grows it, and the batches after it reuse the grown one", () => {
    const [first, second, third] = encodeInRow(createLineEncoder(32, 1024));
    expect(second).not.toBe(first);
    expect(third).toBe(second);
  });

  test("a batch past the bound gets bytes of its own, and the buffer stays as it was", () => {
    const [first, second, third] = encodeInRow(createLineEncoder(32, 40));
    expect(second).not.toBe(first);
    expect(third).toBe(first);
  });
});
