/**
 * An entry as it is streamed, journaled and appended to the shared stream: its JSON, masked when configured,
 * and never longer than MAX_JOURNAL_LINE_BYTES, the bound the journal reader is sized from. One serialisation
 * serves every path, so a client that resumes gets from the journal exactly what the live stream sent.
 */
import { joinFlat } from "../transport/flat-string.ts";
import { MAX_ENTRY_CHARS } from "./assemble.ts";
import type { LogEntry } from "./entry.ts";
import { MAX_LINE_BYTES } from "./follow.ts";
import { redactSecrets } from "./redact.ts";

/** The most UTF-8 bytes one UTF-16 unit of an entry's text takes in JSON: a control character is `\u0001`. */
const MAX_JSON_BYTES_PER_CHAR = 6;

/**
 * Room for what an entry adds around the text of its line (keys, nulls, the zone, the cursor): 338 bytes
 * measured for a typical text record; the fields' values themselves come out of the line.
 */
const ENTRY_FIELDS_BYTES = 64 * 1024;

/**
 * The longest serialised entry, in UTF-8 bytes without the newline. The follower hands over at most
 * MAX_LINE_BYTES of one line, which decode to at most as many UTF-16 units (an invalid byte becomes one
 * U+FFFD), and joins continuation lines up to MAX_ENTRY_CHARS; escaped, each unit can take 6 bytes. Sized
 * so that no message the follower assembles is cut again; only an entry whose fields repeat its text (a
 * summary) or a relayed one can reach it, and is cut here. The journal reader derives its bound from this.
 */
export const MAX_JOURNAL_LINE_BYTES =
  Math.max(MAX_LINE_BYTES, MAX_ENTRY_CHARS) * MAX_JSON_BYTES_PER_CHAR + ENTRY_FIELDS_BYTES;

/** UTF-16 units never take more than 3 UTF-8 bytes: below this length a string needs no measuring. */
const SURELY_FITS_CHARS = Math.floor(MAX_JOURNAL_LINE_BYTES / 3);

function fits(json: string): boolean {
  return json.length <= SURELY_FITS_CHARS || Buffer.byteLength(json) <= MAX_JOURNAL_LINE_BYTES;
}

/** Serialises (and masks) an entry, cutting its message, marked `truncated`, when it would be too long. */
export function serializeEntry(entry: LogEntry, redact: boolean): string {
  const serialise = (value: LogEntry) => {
    const json = JSON.stringify(value);
    return redact ? redactSecrets(json) : json;
  };
  const json = serialise(entry);
  if (fits(json)) return json;
  const rest = Buffer.byteLength(serialise({ ...entry, message: "", truncated: true }));
  let chars = Math.max(0, Math.floor((MAX_JOURNAL_LINE_BYTES - rest) / MAX_JSON_BYTES_PER_CHAR));
  // The other fields alone leave too little room (only a relayed or hand-built entry): keep what places it.
  const base: LogEntry =
    chars > 0
      ? entry
      : {
          ...entry,
          logger_name: null,
          hook_id: null,
          event_type: null,
          repository: null,
          github_user: null,
          task_id: null,
          task_type: null,
          task_status: null,
          summary: undefined,
        };
  if (chars === 0) chars = Math.floor(MAX_JOURNAL_LINE_BYTES / (2 * MAX_JSON_BYTES_PER_CHAR));
  while (true) {
    const cut = serialise({ ...base, message: entry.message.slice(0, chars), truncated: true });
    if (fits(cut) || chars === 0) return cut;
    chars = Math.floor(chars / 2);
  }
}

/** A cursor JSON needs no escapes for (every cursor the journals give out: hex digits and a dash). */
const PLAIN_CURSOR = /^[0-9A-Za-z_-]*$/;

/**
 * `json`, one serialised entry without a cursor, with `cursor` added as its last key — where JSON.stringify
 * puts a key set last on the object JSON.parse made of `json` — and masked when `redact`; null when `json`
 * is not one object or the result passes the length bound (the caller then serialises the entry in full,
 * which also cuts it). The cursor is quoted by hand: JSON.stringify of it was 6 % of a mirror's time.
 */
export function spliceCursor(json: string, cursor: string, redact: boolean): string | null {
  if (!(json.startsWith("{") && json.endsWith("}"))) return null;
  const quoted = PLAIN_CURSOR.test(cursor) ? `"${cursor}"` : JSON.stringify(cursor);
  const spliced = joinFlat(json.slice(0, -1), ',"cursor":', quoted, "}");
  const masked = redact ? redactSecrets(spliced) : spliced;
  return masked.length <= SURELY_FITS_CHARS ? masked : null;
}

/**
 * What serializeEntry gives for `entry` once its cursor is set, built from `json`, the entry's serialised
 * form without a cursor (as the shared stream carries it), by spliceCursor. Saves the stringify of every
 * mirrored entry. `entry` must be that parse with only the cursor set since; without `json`, past the length
 * bound, or for a `json` that is not one object, it is serialised in full (which also cuts it).
 */
export function serializeWithCursor(entry: LogEntry, json: string | undefined, redact: boolean): string {
  if (json === undefined || entry.cursor === undefined) return serializeEntry(entry, redact);
  return spliceCursor(json, entry.cursor, redact) ?? serializeEntry(entry, redact);
}
