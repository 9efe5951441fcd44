import { describe, expect, test } from "bun:test";
import { bloomAdd, createBloom } from "../../src/history/bloom.ts";
import type { IndexedFile } from "../../src/history/chunk-index.ts";
import {
  decodeIndex,
  encodeIndex,
  INDEX_FORMAT_VERSION,
  type IndexSettings,
} from "../../src/history/index-file.ts";
import { withinBound } from "../../src/history/index-store.ts";

const settings: IndexSettings = {
  logDir: "/var/log/gws",
  redact: true,
  naiveZone: "Z",
  build: "1.0 chunk 262144",
};

function bloomWith(...keys: string[]) {
  const bloom = createBloom(keys.length);
  for (const key of keys) bloomAdd(bloom, key);
  return bloom;
}

const files: IndexedFile[] = [
  {
    identity: "2049:1234",
    path: "/var/log/gws/webhooks_2026-11-23.json",
    format: "json",
    generation: 2,
    chunks: [
      {
        start: 0,
        end: 300,
        minTs: 1000,
        maxTs: 2000,
        count: 3,
        bloom: bloomWith("level=INFO", "repository=org/repo"),
        precedingTimestamp: "1970-01-01T00:00:00.000Z",
      },
      {
        start: 300,
        end: 310,
        minTs: Number.POSITIVE_INFINITY,
        maxTs: Number.NEGATIVE_INFINITY,
        count: 0,
        bloom: createBloom(5000),
        precedingTimestamp: "2026-11-23T10:00:02.000000+00:00",
      },
    ],
    indexedTo: 310,
    lastTimestamp: "2026-11-23T10:00:02.000000+00:00",
    size: 320,
    mtimeMs: 1764000000123.5,
    head: { at: 310, hash: "aa" },
    tail: { at: 0, hash: "bb" },
  },
  {
    identity: "2049:99",
    path: "/var/log/gws/server.log",
    format: "text",
    generation: 0,
    chunks: [],
    indexedTo: 0,
    lastTimestamp: "1970-01-01T00:00:00.000Z",
    size: 0,
    mtimeMs: 5,
    head: null,
    tail: null,
  },
];

const encoded = encodeIndex(settings, files);

/** `encoded` with one byte changed and the checksum left as it was. */
function flipped(at: number): Uint8Array {
  const copy = encoded.slice();
  copy[at] = (copy[at] as number) ^ 0xff;
  return copy;
}

function withVersion(version: number): Uint8Array {
  const copy = encoded.slice();
  new DataView(copy.buffer).setUint32(8, version, true);
  return copy;
}

describe("the saved history index", () => {
  test("round-trips every field of every file, chunk and Bloom filter, infinite times included", () => {
    const decoded = decodeIndex(encoded, settings);
    expect(decoded).toEqual({ ok: true, files });
  });

  test("decodes from a buffer at any offset (the Bloom filters are copied out aligned)", () => {
    const shifted = new Uint8Array(encoded.length + 3);
    shifted.set(encoded, 3);
    expect(decodeIndex(shifted.subarray(3), settings)).toEqual({ ok: true, files });
  });

  const refusals: Array<[string, Uint8Array, IndexSettings, string]> = [
    ["an empty file is refused as cut short", new Uint8Array(0), settings, "it is cut short"],
    ["a file cut in its header is refused", encoded.subarray(0, 10), settings, "it is cut short"],
    [
      "a file cut in its chunks fails its checksum",
      encoded.subarray(0, encoded.length - 4),
      settings,
      "checksum",
    ],
    ["one byte changed in the file list fails the checksum", flipped(40), settings, "checksum"],
    [
      "one byte changed in a Bloom filter fails the checksum",
      flipped(encoded.length - 1),
      settings,
      "checksum",
    ],
    [
      "another file's bytes are not taken for an index",
      new TextEncoder().encode("x".repeat(64)),
      settings,
      "not a history index",
    ],
    [
      "an older format version is refused by name",
      withVersion(INDEX_FORMAT_VERSION - 1),
      settings,
      `format version ${INDEX_FORMAT_VERSION - 1}`,
    ],
    [
      "an index of another LOG_DIR is refused",
      encoded,
      { ...settings, logDir: "/srv/logs" },
      "LOG_DIR /var/log/gws",
    ],
    [
      "an index built with masking is refused when masking is off",
      encoded,
      { ...settings, redact: false },
      "REDACT_SECRETS",
    ],
    [
      "chunks that do not reach the file's indexed end are refused, checksum or not",
      encodeIndex(settings, [{ ...(files[0] as IndexedFile), indexedTo: 400 }]),
      settings,
      "do not reach its end",
    ],
    [
      "an index built by another build is refused",
      encoded,
      { ...settings, build: "1.1 chunk 262144" },
      "built by 1.0",
    ],
  ];
  for (const [name, bytes, given, reason] of refusals)
    test(name, () => {
      const decoded = decodeIndex(bytes, given);
      expect(decoded.ok).toBe(false);
      expect(decoded.ok ? "" : decoded.reason).toContain(reason);
    });
});

describe("the saved index's size bound", () => {
  const file = (name: string, mtimeMs: number, chunks: number): IndexedFile => ({
    ...(files[1] as IndexedFile),
    identity: name,
    path: `/var/log/gws/${name}`,
    mtimeMs,
    chunks: Array.from({ length: chunks }, (_, i) => ({
      start: i * 10,
      end: i * 10 + 10,
      minTs: 0,
      maxTs: 0,
      count: 1,
      bloom: createBloom(5000), // 2 KiB each
      precedingTimestamp: "",
    })),
    indexedTo: chunks * 10,
  });
  const all = [file("old", 1, 10), file("newest", 3, 10), file("middle", 2, 10)];
  const names = (kept: IndexedFile[]) => kept.map((f) => f.identity);

  test("everything is saved, newest first, while it fits", () => {
    const { kept, leftOut } = withinBound(all, 1_000_000);
    expect({ kept: names(kept), leftOut }).toEqual({ kept: ["newest", "middle", "old"], leftOut: 0 });
  });
  test("past the bound the oldest files are left out, and counted", () => {
    const { kept, leftOut } = withinBound(all, 50_000);
    expect({ kept: names(kept), leftOut }).toEqual({ kept: ["newest", "middle"], leftOut: 1 });
    expect(encodeIndex(settings, kept).length).toBeLessThanOrEqual(50_000);
  });
  test("a bound smaller than one file saves no file rather than a part of one", () => {
    expect(withinBound(all, 1_000)).toEqual({ kept: [], leftOut: 3 });
  });
});
