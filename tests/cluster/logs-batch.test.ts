/**
 * Several log entries in one stream entry: joined by newlines and split back into exactly as many as the
 * stream entry says it holds, so seqs stay dense whatever the text.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { joinEntries, splitEntries } from "../../src/cluster/log-batch.ts";
import { nextReadCount } from "../../src/cluster/log-mirror.ts";
import { serializeEntry } from "../../src/logs/serialize.ts";
import { makeEntry } from "../helpers/entries.ts";

describe("joining and splitting a batch", () => {
  const cases: Array<[string, string[]]> = [
    ["one entry is stored as it is", ['{"message":"one"}']],
    ["entries come back in order", ['{"a":1}', '{"a":2}', '{"a":3}']],
    ["escaped newlines inside strings are kept", ['{"message":"two\\nlines"}', '{"b":"\\r\\n"}']],
    ["empty entries keep their place", ["", '{"a":1}', ""]],
    ["multi-byte text is untouched", ['{"m":"é ✓ 𝄞"}', '{"m":"\\u2028"}']],
  ];
  for (const [name, entries] of cases)
    test(name, () => {
      expect(splitEntries(joinEntries(entries), entries.length)).toEqual(entries);
    });

  test("a raw newline (never in JSON.stringify's output) becomes a space, keeping the count", () => {
    const entries = ['{"a":\n1}', '{"b":2}'];
    const split = splitEntries(joinEntries(entries), 2);
    expect(split).toEqual(['{"a": 1}', '{"b":2}']);
    expect(JSON.parse(split[0] as string)).toEqual({ a: 1 });
  });

  const malformed: Array<[string, string, number, string[]]> = [
    ["more pieces than the count keep the rest in the last entry", "a\nb\nc", 2, ["a", "b\nc"]],
    ["fewer pieces than the count are padded with empty entries", "a", 3, ["a", "", ""]],
    ["a count of one takes the text whole, newlines and all", "a\nb", 1, ["a\nb"]],
  ];
  for (const [name, text, count, expected] of malformed)
    test(name, () => {
      expect(splitEntries(text, count)).toEqual(expected);
    });
});

describe("stream entries per read", () => {
  const entry = (bytes: number) => ({
    seq: 1,
    epoch: "e",
    count: 1,
    masked: false,
    plain: true,
    json: "x".repeat(bytes),
  });
  const cases: Array<[string, number[], number, number]> = [
    ["an empty read keeps the last count", [], 7, 7],
    ["small entries: as many as READ_COUNT", [100, 100], 4, 4096],
    ["batches of 1 MiB: one per read", [1024 * 1024], 4, 1],
    ["a batch past the byte target: still one per read", [16 * 1024 * 1024], 4, 1],
    ["batches of 256 KiB: four per read", [256 * 1024], 1, 4],
  ];
  for (const [name, sizes, previous, expected] of cases)
    test(name, () => {
      expect(nextReadCount(sizes.map(entry), previous)).toBe(expected);
    });
});

describe("a plain batch (serializeEntry's JSON) is joined without looking for newlines", () => {
  test("serializeEntry never writes a raw newline, masked or not, so joining as it is splits back the same", () => {
    const text = fc.string({ unit: "binary", maxLength: 80 });
    const secretish = fc.constantFrom("", "token=", "ghp_", "Authorization: Bearer ", "github_pat_", "\n");
    fc.assert(
      fc.property(
        fc.array(fc.tuple(secretish, text, fc.boolean()), { minLength: 1, maxLength: 5 }),
        (parts) => {
          const entries = parts.map(([prefix, rest, redact]) =>
            serializeEntry(makeEntry({ message: `${prefix}${rest}\n${rest}`, hook_id: rest }), redact),
          );
          for (const entry of entries) expect(entry).not.toContain("\n");
          const joined = entries.join("\n");
          expect(joined).toBe(joinEntries(entries));
          expect(splitEntries(joined, entries.length)).toEqual(entries);
        },
      ),
      { numRuns: 500 },
    );
  });
});
