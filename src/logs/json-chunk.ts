/**
 * A read step of a JSON-lines file parsed in one native call, `Bun.JSONL.parseChunk` straight from the bytes,
 * instead of decoded to text, split, and each line parsed on its own. Pure.
 *
 * It applies only where its outcome is the line-by-line one: every line of the step starts with `{` and ends
 * with `}` (before an optional `\r`), and the step parses without error into as many values as it has lines.
 * A value cannot run on from one such line into the next (inside an object, `}` is never followed by `{`),
 * and a line holding two values does not parse as JSON lines, so then each line is exactly one object, in
 * order. The count matters too: an object left open at the end (`{"a":{}`) is no error to the native parser,
 * only a value it has not finished. Anything else (a blank line, a pretty-printed record, a line that is not
 * JSON) returns null, and the caller goes line by line.
 */

export interface ObjectLines {
  /** One parsed object per line, in order. */
  values: unknown[];
  /** Where each line starts in the bytes given. */
  starts: number[];
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** The lines of `bytes[start, end)`, which ends with a newline, as one object each; null where not all are. */
export function parseObjectLines(bytes: Uint8Array, start: number, end: number): ObjectLines | null {
  if (end <= start || bytes[end - 1] !== NEWLINE) return null;
  const starts: number[] = [];
  for (let lineStart = start; lineStart < end; ) {
    const newline = bytes.indexOf(NEWLINE, lineStart);
    let last = newline - 1;
    if (last > lineStart && bytes[last] === CARRIAGE_RETURN) last--;
    if (last <= lineStart || bytes[lineStart] !== OPEN_BRACE || bytes[last] !== CLOSE_BRACE) return null;
    starts.push(lineStart);
    lineStart = newline + 1;
  }
  const parsed = Bun.JSONL.parseChunk(bytes, start, end);
  if (parsed.error !== null || parsed.values.length !== starts.length) return null;
  return { values: parsed.values, starts };
}

/** Stateless (no `stream` option), so one decoder serves every call. */
const decoder = new TextDecoder();

/**
 * The text of the line starting at `start` of `bytes` (one of parseObjectLines' lines) without its `\r`, as a
 * line-by-line reader gives it: asked for only where an entry is raw, so a parsed step decodes no text at all
 * otherwise.
 */
export function lineOf(bytes: Uint8Array, start: number): string {
  const text = decoder.decode(bytes.subarray(start, bytes.indexOf(NEWLINE, start)));
  return text.charCodeAt(text.length - 1) === CARRIAGE_RETURN ? text.slice(0, -1) : text;
}
