/**
 * What one chunk of a log file is: its whole lines parsed into entries (masked as `shown` says, before
 * anything else sees them), and the summary the index keeps of them — byte range, time range and a Bloom
 * filter of the entries' filter values. Pure: the bytes come from the caller.
 */
import { createHash } from "node:crypto";
import { createLineAssembler, pushObjectLines } from "../logs/assemble.ts";
import { FILTER_FIELDS, type LogEntry } from "../logs/entry.ts";
import { MAX_LINE_BYTES } from "../logs/follow.ts";
import { parseObjectLines } from "../logs/json-chunk.ts";
import type { LogFormat, ParseOptions } from "../logs/parse.ts";
import { fieldValue } from "../logs/topics.ts";
import { type Bloom, bloomAdd, createBloom } from "./bloom.ts";

/** Target size of a chunk: small enough to parse in about a millisecond, large enough to keep the index small. */
export const CHUNK_BYTES = 256 * 1024;

/**
 * Bytes a file fingerprint covers, at the file's start and before the indexed end: enough to tell two log
 * files apart (they start with different timestamps) and to notice a file rewritten under the same inode.
 */
export const FINGERPRINT_BYTES = 4096;

export interface Chunk {
  start: number;
  end: number;
  minTs: number;
  maxTs: number;
  count: number;
  bloom: Bloom;
  /** The timestamp before the chunk, given to unparsable lines at its start (the same at every parse). */
  precedingTimestamp: string;
}

export interface IndexedEntry {
  entry: LogEntry;
  ts: number;
  file: string;
  offset: number;
}

/** What parsing a chunk needs to know about its file. */
export interface ChunkSource {
  identity: string;
  format: LogFormat;
  /** Timestamp given to unparsable lines at the start: the one before them in the file. */
  lastTimestamp: string;
}

/** The key under which a chunk's Bloom filter holds one filter value; queries ask with the same key. */
export function bloomKey(field: string, value: string): string {
  return `${field}=${value}`;
}

/** The Bloom keys of an entry: one per filter field it has a value for. */
export function bloomKeys(entry: LogEntry): string[] {
  const keys: string[] = [];
  for (const field of FILTER_FIELDS) {
    const value = fieldValue(entry, field);
    if (value !== null) keys.push(bloomKey(field, value));
  }
  return keys;
}

/** Parses whole lines `bytes` (starting at file offset `base`) into entries (as `shown`) with their offsets. */
export function parseChunk(
  file: ChunkSource,
  bytes: Uint8Array,
  base: number,
  parse: ParseOptions,
  shown: (entry: LogEntry) => LogEntry,
): IndexedEntry[] {
  const out: IndexedEntry[] = [];
  // What an unparsable line is given: the timestamp of the entry before it in the file.
  let lastTimestamp = file.lastTimestamp;
  const assembler = createLineAssembler(file.format, parse, (entry, position) => {
    const ms = Date.parse(entry.timestamp);
    const indexed = {
      entry: shown(entry),
      ts: Number.isNaN(ms) ? 0 : ms,
      file: file.identity,
      offset: position,
    };
    out.push(indexed);
    lastTimestamp = indexed.entry.timestamp;
  });
  // A JSON chunk whose lines are all one object each is parsed in one call (json-chunk.ts); no line of it
  // can reach the length limit when the whole chunk is shorter.
  const lines =
    file.format === "json" && bytes.length < MAX_LINE_BYTES ? parseObjectLines(bytes, 0, bytes.length) : null;
  if (lines !== null) {
    pushObjectLines(assembler, bytes, lines, base, () => lastTimestamp);
    return out;
  }
  const decoder = new TextDecoder();
  let lineStart = 0;
  while (lineStart < bytes.length) {
    let lineEnd = bytes.indexOf(10, lineStart);
    if (lineEnd === -1) lineEnd = bytes.length;
    const cut = Math.min(lineEnd, lineStart + MAX_LINE_BYTES);
    let line = decoder.decode(bytes.subarray(lineStart, cut));
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    // Cut and marked as the follower cuts it: a line that reaches the limit without its newline.
    if (lineEnd - lineStart >= MAX_LINE_BYTES) assembler.pushTruncated(line, lastTimestamp, base + lineStart);
    else assembler.push(line, lastTimestamp, base + lineStart);
    lineStart = lineEnd + 1;
  }
  assembler.flush();
  return out;
}

/** Where to end a chunk read at [0, bytes.length): after the last newline that follows CHUNK_BYTES, if any. */
export function chunkEnd(bytes: Uint8Array): number {
  if (bytes.length > CHUNK_BYTES) {
    const newline = bytes.indexOf(10, CHUNK_BYTES);
    if (newline !== -1) return newline + 1;
  }
  const last = bytes.lastIndexOf(10);
  return last === -1 ? 0 : last + 1;
}

/** The index's record of the chunk [start, end) holding `entries` (already masked: the Bloom keys are too). */
export function summariseChunk(
  entries: readonly IndexedEntry[],
  start: number,
  end: number,
  precedingTimestamp: string,
): Chunk {
  const keys = new Set<string>();
  let minTs = Number.POSITIVE_INFINITY;
  let maxTs = Number.NEGATIVE_INFINITY;
  for (const { entry, ts } of entries) {
    for (const key of bloomKeys(entry)) keys.add(key);
    if (ts < minTs) minTs = ts;
    if (ts > maxTs) maxTs = ts;
  }
  const bloom = createBloom(keys.size);
  for (const key of keys) bloomAdd(bloom, key);
  return { start, end, minTs, maxTs, count: entries.length, bloom, precedingTimestamp };
}

/**
 * A fingerprint of some bytes of a log file, taken of the text as a reader is shown it (`shownLine` masks
 * secrets), so the saved index holds nothing derived from an unmasked secret.
 */
export function fingerprint(bytes: Uint8Array, shownLine: (text: string) => string): string {
  return createHash("sha256")
    .update(shownLine(new TextDecoder().decode(bytes)))
    .digest("hex")
    .slice(0, 32);
}
