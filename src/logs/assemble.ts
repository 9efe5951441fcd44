/**
 * Turns the lines of one file into entries. Pure apart from the `emit` callback: the follower owns the I/O.
 *
 * Text files: a line without a timestamp continues the previous entry (a traceback joins the record that
 * logged it). The follower calls `flush()` at the end of every read, so an entry waits for its continuation
 * lines only while they are in the same read — never on a timer, so no latency is added.
 * A continuation that arrives in a later read becomes an entry of its own that inherits the previous entry's
 * context (timestamp, level, hook, repository...), so filtered clients still get it.
 */
import type { LogEntry } from "./entry.ts";
import { lineOf, type ObjectLines } from "./json-chunk.ts";
import {
  entryOfJsonValue,
  type LogFormat,
  type ParseOptions,
  parseJsonLine,
  parseTextLine,
  rawEntry,
  stripAnsi,
} from "./parse.ts";

/** Upper bound on one assembled message (a traceback joined to its record); past it a new entry starts. */
export const MAX_ENTRY_CHARS = 1024 * 1024;

/** Upper bound on a pretty-printed JSON record held while its closing brace is awaited. */
const MAX_PRETTY_JSON_LINES = 10_000;

/**
 * `position` is opaque to the assembler (the history index passes byte offsets, the live follower 0): each
 * emitted entry carries the position of the line it started at.
 */
export interface LineAssembler {
  push(line: string, now: string, position?: number): void;
  /** A line cut at the reader's length limit: emitted at once, marked `truncated`. */
  pushTruncated(line: string, now: string, position?: number): void;
  /**
   * A whole line already parsed as JSON to `value` (json-chunk.ts): what push(line()) would do with the line,
   * without parsing it again. `line` gives its text, asked for only where the text itself is needed and
   * only before the call returns (the caller may point it at the next line then).
   */
  pushParsed(value: unknown, line: () => string, now: string, position?: number): void;
  /** End of a read: emit the entry held for possible continuation lines. */
  flush(): void;
  /** The position of the first line it still holds (not emitted yet), or null when it holds none. */
  heldFrom(): number | null;
}

export type EmitEntry = (entry: LogEntry, position: number) => void;

function continuationOf(previous: LogEntry, line: string): LogEntry {
  return { ...previous, message: line, summary: undefined, truncated: undefined };
}

function createTextAssembler(options: ParseOptions, emit: EmitEntry): LineAssembler {
  let pending: LogEntry | null = null;
  let pendingPosition = 0;
  let pendingHasContinuation = false;
  let lastEmitted: LogEntry | null = null;

  const emitPending = () => {
    if (pending === null) return;
    if (pendingHasContinuation) pending.message = pending.message.trimEnd();
    emit(pending, pendingPosition);
    lastEmitted = pending;
    pending = null;
    pendingHasContinuation = false;
  };

  const assembler: LineAssembler = {
    push(line, now, position = 0) {
      const entry = line.length === 0 ? null : parseTextLine(line, options);
      if (entry !== null) {
        emitPending();
        pending = entry;
        pendingPosition = position;
        return;
      }
      const text = stripAnsi(line);
      if (pending !== null && pending.message.length + text.length < MAX_ENTRY_CHARS) {
        pending.message += `\n${text}`;
        pendingHasContinuation = true;
        return;
      }
      if (text.trim().length === 0) return; // a blank line that continues nothing carries nothing
      const context = pending ?? lastEmitted;
      emitPending();
      if (context === null) {
        emit(rawEntry(text, now), position);
        return;
      }
      pending = continuationOf(context, text);
      pendingPosition = position;
    },
    pushParsed(_value, line, now, position = 0) {
      assembler.push(line(), now, position);
    },
    pushTruncated(line, now, position = 0) {
      emitPending();
      const entry = parseTextLine(line, options) ?? rawEntry(line, now);
      entry.truncated = true;
      emit(entry, position);
      lastEmitted = entry;
    },
    flush: emitPending,
    heldFrom: () => (pending === null ? null : pendingPosition),
  };
  return assembler;
}

/**
 * JSON lines, one record a line. A lone `{` opens a pretty-printed record (the processor's tests write those)
 * that is gathered until its lone `}`. If it never parses (or passes the bounds), the `{` was no record's
 * start: it is streamed raw and the lines after it are read again as lines, so a stray `{` does not turn the
 * records that follow it into raw text.
 */
function createJsonAssembler(options: ParseOptions, emit: EmitEntry): LineAssembler {
  let pretty: string[] | null = null;
  let prettyPositions: number[] = [];
  let prettyChars = 0;
  /** Lines read again after a failed block: a `{` among them opens nothing, so each line is read again once. */
  let rereading = false;

  const releasePretty = (now: string) => {
    const lines = pretty ?? [];
    const positions = prettyPositions;
    pretty = null;
    prettyPositions = [];
    prettyChars = 0;
    emit(rawEntry(lines[0] ?? "{", now), positions[0] ?? 0);
    rereading = true;
    try {
      for (let i = 1; i < lines.length; i++) assembler.push(lines[i] as string, now, positions[i] ?? 0);
    } finally {
      rereading = false;
    }
  };

  const assembler: LineAssembler = {
    push(line, now, position = 0) {
      if (pretty !== null) {
        pretty.push(line);
        prettyPositions.push(position);
        prettyChars += line.length;
        if (line === "}") {
          const joined = pretty.join("\n");
          const entry = parseJsonLine(joined, options, now);
          if (entry.level === "UNKNOWN") releasePretty(now);
          else {
            const start = prettyPositions[0] ?? position;
            pretty = null;
            prettyPositions = [];
            prettyChars = 0;
            emit(entry, start);
          }
        } else if (pretty.length > MAX_PRETTY_JSON_LINES || prettyChars > MAX_ENTRY_CHARS) {
          releasePretty(now);
        }
        return;
      }
      if (line === "{" && !rereading) {
        pretty = [line];
        prettyPositions = [position];
        prettyChars = 1;
        return;
      }
      if (line.trim().length === 0) return;
      emit(parseJsonLine(line, options, now), position);
    },
    pushParsed(value, line, now, position = 0) {
      // The follower parses a step whole only while no record is open; inside one, the text joins it.
      if (pretty !== null) return assembler.push(line(), now, position);
      emit(entryOfJsonValue(value, line, options, now), position);
    },
    pushTruncated(line, now, position = 0) {
      const entry = rawEntry(line, now);
      entry.truncated = true;
      emit(entry, position);
    },
    flush() {},
    heldFrom: () => (pretty === null ? null : (prettyPositions[0] ?? null)),
  };
  return assembler;
}

export function createLineAssembler(
  format: LogFormat,
  options: ParseOptions,
  emit: EmitEntry,
): LineAssembler {
  return format === "json" ? createJsonAssembler(options, emit) : createTextAssembler(options, emit);
}

/**
 * Lines parsed whole from `bytes` (json-chunk.ts) into `assembler`, each at `base` plus its offset, with
 * `now()` as the time a raw one gets.
 */
export function pushObjectLines(
  assembler: LineAssembler,
  bytes: Uint8Array,
  lines: ObjectLines,
  base: number,
  now: () => string,
): void {
  // One text thunk for the step, pointed at each line in turn (`pushParsed` asks for the text, if at all,
  // before it returns): a closure per line was garbage at max rate, about 3 MB of a stalled client's peak.
  let start = 0;
  const line = () => lineOf(bytes, start);
  for (let i = 0; i < lines.values.length; i++) {
    start = lines.starts[i] as number;
    assembler.pushParsed(lines.values[i], line, now(), base + start);
  }
}
