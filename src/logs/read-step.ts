/**
 * The lines of one read step of a followed file: how much of what was read can be consumed (whole lines; a
 * cut over-long line), handing those lines to the file's assembler, and with exact positions where the file
 * must be read again from so that nothing held is lost.
 */
import { type LineAssembler, pushObjectLines } from "./assemble.ts";
import type { FollowedFile } from "./file-tail.ts";
import { parseObjectLines } from "./json-chunk.ts";

/** Stateless (no `stream` option), so one decoder serves every file. */
const decoder = new TextDecoder();

/**
 * How many bytes of `bytes` (read at the file's offset) to consume: up to and including the last newline,
 * all of it while skipping the tail of an over-long line, or all of it when a full chunk holds no newline
 * (the line is cut there). 0 means a half-written line: wait for more.
 */
export function consumableLength(bytes: Uint8Array, fullChunk: boolean, skippingLongLine: boolean): number {
  const lastNewline = bytes.lastIndexOf(10);
  if (lastNewline !== -1) return lastNewline + 1;
  return skippingLongLine || fullChunk ? bytes.length : 0;
}

/** Hands the lines of `chunk` (exactly what consumableLength allowed) to the assembler. */
export function consumeLines(
  file: FollowedFile,
  chunk: Uint8Array,
  exact: boolean,
  counters: { linesTruncated: number },
): void {
  let start = 0;
  if (file.skippingLongLine) {
    const newline = chunk.indexOf(10);
    if (newline === -1) return;
    start = newline + 1;
    file.skippingLongLine = false;
  }
  if (start === chunk.length) return;
  const now = new Date().toISOString();
  const assembler = file.assembler;
  if (chunk[chunk.length - 1] !== 10) {
    // A whole chunk without a newline: cut the line here, skip the rest of it.
    assembler.pushTruncated(decoder.decode(chunk.subarray(start)), now, file.offset - chunk.length + start);
    file.skippingLongLine = true;
    counters.linesTruncated++;
  } else if (
    file.format === "json" &&
    assembler.heldFrom() === null &&
    chunk.indexOf(10, start) < chunk.length - 1 &&
    pushParsedStep(file, chunk, start, now)
  ) {
    // Parsed natively from the bytes, every line one object (json-chunk.ts). Only a step of two lines or
    // more: a trickle's single line cost a fresh server 3 % more CPU that way than line by line.
  } else {
    const text = decoder.decode(chunk.subarray(start, chunk.length - 1));
    if (exact) pushWithPositions(assembler, text, file.offset - chunk.length + start, now);
    else {
      for (let line of text.split("\n")) {
        if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
        assembler.push(line, now);
      }
    }
  }
  // With exact positions, `heldFrom ?? offset` is where a reader must start again to get exactly what was not
  // emitted yet: a text entry held for its continuation lines, or a pretty-printed JSON record being gathered,
  // keeps the file's position at its first line until the end of the read (flushText) or the record.
  if (exact) file.heldFrom = assembler.heldFrom();
}

/**
 * The step's lines as parsed objects, when they all are one (see parseObjectLines), each with the byte offset
 * it starts at; false, with nothing pushed, otherwise.
 */
function pushParsedStep(file: FollowedFile, chunk: Uint8Array, start: number, now: string): boolean {
  const lines = parseObjectLines(chunk, start, chunk.length);
  if (lines === null) return false;
  pushObjectLines(file.assembler, chunk, lines, file.offset - chunk.length, () => now);
  return true;
}

/** Each line with the byte offset it starts at, so that an entry carries the position of its first line. */
function pushWithPositions(assembler: LineAssembler, text: string, position: number, now: string): void {
  for (let line of text.split("\n")) {
    const bytes = Buffer.byteLength(line) + 1;
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    assembler.push(line, now, position);
    position += bytes;
  }
}

/**
 * End of a read step for a text file: the entry held for continuation lines is emitted, so nothing read is
 * held any more (a JSON assembler has no such entry: its hold lasts until the record's closing line).
 */
export function flushText(file: FollowedFile): void {
  if (file.format !== "text") return;
  file.assembler.flush();
  file.heldFrom = null;
}
