/**
 * The history index as bytes on disk, so a restarted server need not read the whole log directory again.
 * Pure: encoding and decoding; where the bytes live and when they are written is index-store.ts.
 *
 * Layout (little-endian, as every platform Bun runs on):
 *   0  "hsindex\n"            magic
 *   8  u32 format version     INDEX_FORMAT_VERSION
 *  12  u32 CRC-32             of every byte from offset 16 to the end
 *  16  u32 meta bytes, u32 chunk count
 *  24  meta JSON              settings and files, padded with spaces to a multiple of 8
 *      f64 × 6 per chunk      start, end, minTs, maxTs, count, Bloom words
 *      u32 per Bloom word     every chunk's filter, in chunk order
 * A file whose length, checksum, version, settings or structure is not exactly this is refused whole.
 */
import { z } from "zod";
import { type Bloom, MAX_BITS } from "./bloom.ts";
import type { IndexedFile } from "./chunk-index.ts";
import type { Chunk } from "./chunk-parse.ts";

/** Bump when what a chunk records changes (parsing, Bloom keys or hashing): older files are then rebuilt. */
export const INDEX_FORMAT_VERSION = 1;

/** What the saved chunks were built from; a saved index built from anything else is not used. */
export interface IndexSettings {
  logDir: string;
  /** Masking on: the Bloom keys and fingerprints were taken of masked text. */
  redact: boolean;
  naiveZone: string;
  /** The build and its parsing constants: a chunk's record follows from them. */
  build: string;
}

export type DecodedIndex = { ok: true; files: IndexedFile[] } | { ok: false; reason: string };

const MAGIC = new TextEncoder().encode("hsindex\n");
const HEADER_BYTES = 24;
const CHUNK_FIELDS = 6;

const fingerprintSchema = z.object({ at: z.number().int().nonnegative(), hash: z.string() }).nullable();
const metaSchema = z.object({
  settings: z.object({ logDir: z.string(), redact: z.boolean(), naiveZone: z.string(), build: z.string() }),
  files: z.array(
    z.object({
      identity: z.string(),
      path: z.string(),
      format: z.enum(["text", "json"]),
      generation: z.number().int().nonnegative(),
      indexedTo: z.number().int().nonnegative(),
      lastTimestamp: z.string(),
      size: z.number().int().nonnegative(),
      mtimeMs: z.number(),
      head: fingerprintSchema,
      tail: fingerprintSchema,
      /** One per chunk: its preceding timestamp (the chunk count is this length). */
      preceding: z.array(z.string()),
    }),
  ),
});

/** The bytes one file takes in the saved index, about: what the size bound is counted in. */
export function savedBytesOf(file: IndexedFile): number {
  let bytes = 300 + file.path.length;
  for (const chunk of file.chunks) bytes += CHUNK_FIELDS * 8 + chunk.bloom.byteLength + 40;
  return bytes;
}

/** The saved form of `files` (in the order given). */
export function encodeIndex(settings: IndexSettings, files: readonly IndexedFile[]): Uint8Array {
  const meta = JSON.stringify({
    settings,
    files: files.map((file) => ({
      identity: file.identity,
      path: file.path,
      format: file.format,
      generation: file.generation,
      indexedTo: file.indexedTo,
      lastTimestamp: file.lastTimestamp,
      size: file.size,
      mtimeMs: file.mtimeMs,
      head: file.head,
      tail: file.tail,
      preceding: file.chunks.map((chunk) => chunk.precedingTimestamp),
    })),
  });
  const metaBytes = new TextEncoder().encode(meta);
  const metaEnd = Math.ceil((HEADER_BYTES + metaBytes.length) / 8) * 8;
  const chunks = files.flatMap((file) => file.chunks);
  const words = chunks.reduce((sum, chunk) => sum + chunk.bloom.length, 0);
  const bloomStart = metaEnd + chunks.length * CHUNK_FIELDS * 8;
  const out = new Uint8Array(bloomStart + words * 4);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(8, INDEX_FORMAT_VERSION, true);
  view.setUint32(16, metaBytes.length, true);
  view.setUint32(20, chunks.length, true);
  out.set(metaBytes, HEADER_BYTES);
  out.fill(0x20, HEADER_BYTES + metaBytes.length, metaEnd);
  const table = new Float64Array(out.buffer, metaEnd, chunks.length * CHUNK_FIELDS);
  const blooms = new Uint32Array(out.buffer, bloomStart, words);
  let word = 0;
  let at = 0;
  for (const chunk of chunks) {
    table[at++] = chunk.start;
    table[at++] = chunk.end;
    table[at++] = chunk.minTs;
    table[at++] = chunk.maxTs;
    table[at++] = chunk.count;
    table[at++] = chunk.bloom.length;
    blooms.set(chunk.bloom, word);
    word += chunk.bloom.length;
  }
  view.setUint32(12, Bun.hash.crc32(out.subarray(16)), true);
  return out;
}

/** Why `settings` differ from the saved ones, or null when they are the same. */
function settingsDiffer(saved: IndexSettings, settings: IndexSettings): string | null {
  if (saved.logDir !== settings.logDir) return `it was built for LOG_DIR ${saved.logDir}`;
  if (saved.redact !== settings.redact) return "it was built with REDACT_SECRETS set otherwise";
  if (saved.naiveZone !== settings.naiveZone) return "it was built with another LOG_NAIVE_TIMEZONE";
  if (saved.build !== settings.build) return `it was built by ${saved.build}`;
  return null;
}

const isBloomSize = (words: number) =>
  Number.isInteger(words) && words > 0 && words <= MAX_BITS / 32 && (words & (words - 1)) === 0;

/** The files a saved index holds, or why it cannot be used. */
export function decodeIndex(bytes: Uint8Array, settings: IndexSettings): DecodedIndex {
  if (bytes.length < HEADER_BYTES) return { ok: false, reason: "it is cut short" };
  if (!MAGIC.every((byte, i) => bytes[i] === byte)) return { ok: false, reason: "it is not a history index" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== INDEX_FORMAT_VERSION)
    return {
      ok: false,
      reason: `it has format version ${version}, this build reads ${INDEX_FORMAT_VERSION}`,
    };
  if (view.getUint32(12, true) !== Bun.hash.crc32(bytes.subarray(16)))
    return { ok: false, reason: "its checksum does not match (damaged or cut short)" };
  const metaLength = view.getUint32(16, true);
  const chunkCount = view.getUint32(20, true);
  const metaEnd = Math.ceil((HEADER_BYTES + metaLength) / 8) * 8;
  const bloomStart = metaEnd + chunkCount * CHUNK_FIELDS * 8;
  if (bloomStart > bytes.length) return { ok: false, reason: "it is cut short" };
  let meta: z.infer<typeof metaSchema>;
  try {
    const parsed = metaSchema.safeParse(
      JSON.parse(new TextDecoder().decode(bytes.subarray(HEADER_BYTES, HEADER_BYTES + metaLength))),
    );
    if (!parsed.success) return { ok: false, reason: `its file list is malformed (${parsed.error.message})` };
    meta = parsed.data;
  } catch (error) {
    return { ok: false, reason: `its file list is not JSON (${String(error)})` };
  }
  const differs = settingsDiffer(meta.settings, settings);
  if (differs !== null) return { ok: false, reason: differs };
  // A copy, aligned whatever the input's offset: the Bloom filters and the table are views into it.
  const own = bytes.slice();
  const table = new Float64Array(own.buffer, metaEnd, chunkCount * CHUNK_FIELDS);
  const files: IndexedFile[] = [];
  let next = 0;
  let word = 0;
  for (const saved of meta.files) {
    const { preceding, ...rest } = saved;
    const chunks: Chunk[] = [];
    let end = 0;
    for (const precedingTimestamp of preceding) {
      if (next >= chunkCount) return { ok: false, reason: "it holds fewer chunks than its file list" };
      const at = next++ * CHUNK_FIELDS;
      const start = table[at] as number;
      const chunkEnd = table[at + 1] as number;
      const minTs = table[at + 2] as number;
      const maxTs = table[at + 3] as number;
      const count = table[at + 4] as number;
      const words = table[at + 5] as number;
      if (start !== end || !(chunkEnd > start) || !Number.isInteger(count) || !isBloomSize(words))
        return { ok: false, reason: `a chunk of ${saved.path} is malformed` };
      if (bloomStart + (word + words) * 4 > own.length) return { ok: false, reason: "it is cut short" };
      const bloom: Bloom = new Uint32Array(own.buffer, bloomStart + word * 4, words);
      word += words;
      end = chunkEnd;
      chunks.push({ start, end, minTs, maxTs, count, bloom, precedingTimestamp });
    }
    if (end !== saved.indexedTo)
      return { ok: false, reason: `the chunks of ${saved.path} do not reach its end` };
    files.push({ ...rest, chunks });
  }
  if (next !== chunkCount || bloomStart + word * 4 !== own.length)
    return { ok: false, reason: "its length does not match its contents" };
  return { ok: true, files };
}
