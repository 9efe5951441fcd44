/**
 * Pure parsing of github-webhook-server log lines. No I/O: the follower hands in lines, this returns entries.
 * Anything that cannot be parsed still becomes an entry (level `UNKNOWN`, the line as message), never dropped.
 */
import { isDigit, webhookContext } from "./context-prefix.ts";
import type { LogEntry, WebhookSummaryDetails } from "./entry.ts";

export type LogFormat = "text" | "json";

export interface ParseOptions {
  /** Zone appended to naive timestamps: `Z` or `±HH:MM`. The processor writes naive local time. */
  naiveZone: string;
}

/** `webhooks_2026-11-23.json`, `x.jsonl` and their numeric rotations are JSON lines; everything else is text. */
export function formatOfFile(name: string): LogFormat {
  return /\.jsonl?(?:\.\d+)?$/.test(name) ? "json" : "text";
}

/** Files the follower reads: `*.log`, `*.log.N`, `*.json`, `*.jsonl` (and their `.N` rotations); never `.gz`. */
export function isLogFileName(name: string): boolean {
  return /\.(?:log|json|jsonl)(?:\.\d+)?$/.test(name) && !name.startsWith(".");
}

/**
 * Every terminal control sequence (ECMA-48): CSI, 7- or 8-bit (colours, clear-screen, cursor moves); string
 * commands ended by BEL or ST (OSC window titles and hyperlinks, DCS, SOS, PM, APC); other escapes (`ESC c`,
 * `ESC ( 0`); then any C0 or C1 control but newline and tab. A terminal client printing any of them could be
 * retitled, cleared or overwritten. A string command's body stops at the next ESC, BEL or C1 character, so an
 * unterminated one costs a scan to there (never quadratic time) and its text stays, inert without its ESC.
 */
const TERMINAL_CONTROL =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]|(?:\u001b[\]PX^_]|[\u0090\u0098\u009d-\u009f])[^\u0007\u001b\u0080-\u009f]*(?:\u0007|\u001b\\|\u009c)|\u001b[ -/]*[0-~]|[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
/** Any character a control sequence starts with: one scan finds none in the common line. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** `<timestamp> <logger_name> <LEVEL> <message>`; control sequences are stripped before this runs. */
const TEXT_RECORD =
  /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:\d\d)?[ \t]+([\w.-]+)[ \t]+([\w.-]+)(?:[ \t]+(.*))?$/s;

/**
 * The processor's request lines: `[<event>][<delivery>]: <text>` after an empty or uncoloured repository
 * (`github-webhook-server [pull_request][<id>]: Processing webhook`, ` [push][<id>]: …`). They run before the
 * processor sets its context, so this prefix is the only place their hook id is written.
 */
const REQUEST_CONTEXT = /^ ?(?:(\S+) )?\[((?:\\.|[^\]\\])+)\]\[((?:\\.|[^\]\\])+)\]: (.*)$/s;

const TASK_ID = /\[task_id=((?:\\.|[^\]\\])+)\]/;
const TASK_TYPE = /\[task_type=((?:\\.|[^\]\\])+)\]/;
const TASK_STATUS = /\[task_status=((?:\\.|[^\]\\])+)\]/;

export function stripAnsi(text: string): string {
  return CONTROL.test(text) ? text.replace(TERMINAL_CONTROL, "") : text;
}

function unescapeBrackets(value: string): string {
  return value.includes("\\") ? value.replace(/\\([[\]\\])/g, "$1") : value;
}

/** Month, day, hour, minute and second in range: `2025-13-45T25:70:99` looks like a timestamp but is not one. */
function isPlausibleDateTime(ts: string): boolean {
  const month = (ts.charCodeAt(5) - 48) * 10 + (ts.charCodeAt(6) - 48);
  const day = (ts.charCodeAt(8) - 48) * 10 + (ts.charCodeAt(9) - 48);
  const hour = (ts.charCodeAt(11) - 48) * 10 + (ts.charCodeAt(12) - 48);
  const minute = (ts.charCodeAt(14) - 48) * 10 + (ts.charCodeAt(15) - 48);
  const second = (ts.charCodeAt(17) - 48) * 10 + (ts.charCodeAt(18) - 48);
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour < 24 && minute < 60 && second <= 60;
}

function emptyEntry(timestamp: string, level: string, loggerName: string | null, message: string): LogEntry {
  return {
    timestamp,
    level,
    logger_name: loggerName,
    message,
    hook_id: null,
    event_type: null,
    repository: null,
    pr_number: null,
    github_user: null,
    task_id: null,
    task_type: null,
    task_status: null,
    token_spend: null,
  };
}

/** A line hookstream could not parse, streamed as it is so nothing is lost. */
export function rawEntry(line: string, now: string): LogEntry {
  return emptyEntry(now, "UNKNOWN", null, stripAnsi(line));
}

/** Moves `[task_id=..] [task_type=..] [task_status=..]` tags out of the message into their own fields. */
function extractTaskFields(entry: LogEntry): void {
  let message = entry.message;
  if (!message.includes("[task_")) return;
  const id = TASK_ID.exec(message);
  if (id?.[1]) {
    entry.task_id = unescapeBrackets(id[1]);
    message = message.replace(id[0], "");
  }
  const type = TASK_TYPE.exec(message);
  if (type?.[1]) {
    entry.task_type = unescapeBrackets(type[1]);
    message = message.replace(type[0], "");
  }
  const status = TASK_STATUS.exec(message);
  if (status?.[1]) {
    entry.task_status = unescapeBrackets(status[1]);
    message = message.replace(status[0], "");
  }
  entry.message = message.trim();
}

/**
 * Takes the processor's context prefix off the message and into the entry's fields. Both copies of a record
 * carry the same prefix inside the message, so this runs on text and JSON alike; a field the JSON copy already
 * has keeps its value unless it is empty (`api_user` is `""` until the processor finishes a webhook).
 */
function applyMessagePrefix(entry: LogEntry): void {
  const message = entry.message;
  if (!message.includes("]: ")) return;
  const full = webhookContext(message);
  if (full !== null) {
    entry.repository = orPrefix(entry.repository, full.repository);
    entry.event_type = orPrefix(entry.event_type, full.eventType);
    entry.hook_id = orPrefix(entry.hook_id, full.hookId);
    entry.github_user = orPrefix(entry.github_user, full.user);
    if (entry.pr_number === null && full.pr !== undefined) entry.pr_number = Number(full.pr);
    entry.message = full.text;
    return;
  }
  const request = REQUEST_CONTEXT.exec(message);
  if (request === null) return;
  const [, repository, eventType = "", hookId = "", text = ""] = request;
  if (repository !== undefined) entry.repository = orPrefix(entry.repository, repository);
  entry.event_type = orPrefix(entry.event_type, eventType);
  entry.hook_id = orPrefix(entry.hook_id, hookId);
  entry.message = text;
}

function orPrefix(own: string | null, fromPrefix: string): string | null {
  if (own !== null && own !== "") return own;
  const value = unescapeBrackets(fromPrefix);
  return value === "" ? own : value;
}

/**
 * One form for every timestamp streamed: UTC written `+00:00` (the processor's own `isoformat()`), the
 * source's fraction digits kept. `Z`, `+0000` and other offsets become that form, so the two copies of a
 * record, and entries from files written in different zones, give the same string for the same instant.
 */
export function canonicalTimestamp(dateTime: string, zone: string): string {
  const offset = zoneOffsetMinutes(zone);
  if (offset === 0) return `${dateTime}+00:00`;
  const dot = dateTime.indexOf(".", 19);
  const whole = dot === -1 ? dateTime : dateTime.slice(0, dot);
  const fraction = dot === -1 ? "" : dateTime.slice(dot);
  const utc = new Date(Date.parse(`${whole}Z`) - offset * 60_000).toISOString().slice(0, 19);
  return `${utc}${fraction}+00:00`;
}

/** Minutes east of UTC of `Z`, `±HH:MM` or `±HHMM` (already validated by the caller's pattern). */
function zoneOffsetMinutes(zone: string): number {
  if (zone === "Z" || zone === "+00:00" || zone === "+0000" || zone === "-00:00") return 0;
  const sign = zone[0] === "-" ? -1 : 1;
  const digits = zone.replace(":", "");
  return sign * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
}

/**
 * Parses one text line. Returns null when the line does not start a record (no timestamp): the caller
 * treats it as a continuation of the previous entry, e.g. a traceback.
 */
export function parseTextLine(line: string, options: ParseOptions): LogEntry | null {
  const clean = stripAnsi(line);
  const record = TEXT_RECORD.exec(clean);
  if (record === null) return null;
  const [, time = "", zone, loggerName = "", level = "", rest = ""] = record;
  if (!isPlausibleDateTime(time)) return null;
  const entry = emptyEntry(canonicalTimestamp(time, zone ?? options.naiveZone), level, loggerName, rest);
  applyMessagePrefix(entry);
  extractTaskFields(entry);
  return entry;
}

type JsonRecord = Record<string, unknown>;

function str(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return null;
}

function nonEmpty(value: unknown): string | null {
  const text = str(value);
  return text === "" ? null : text;
}

function int(value: unknown): number | null {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  if (typeof value === "string" && /^\d{1,15}$/.test(value)) return Number(value);
  return null;
}

function record(value: unknown): JsonRecord | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonRecord) : null;
}

const DATE_TIME_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
const [DASH, COLON, LETTER_T, SPACE, DOT] = ["-", ":", "T", " ", "."].map((c) => c.charCodeAt(0));
const ZONE_SUFFIX = /^(?:Z|[+-]\d\d:?\d\d)$/;

/**
 * Index just past `YYYY-MM-DD[T ]HH:MM:SS[.fraction]` at the start of `text`, or -1. Hand-written because it
 * runs once per JSON line and a regex match here was a visible share of the per-line cost.
 */
function endOfDateTime(text: string): number {
  if (text.length < 19) return -1;
  // Indexed loop and char codes: an iterator and one-character strings took a quarter more.
  for (let k = 0; k < DATE_TIME_DIGITS.length; k++)
    if (!isDigit(text.charCodeAt(DATE_TIME_DIGITS[k] as number))) return -1;
  if (text.charCodeAt(4) !== DASH || text.charCodeAt(7) !== DASH) return -1;
  if (text.charCodeAt(13) !== COLON || text.charCodeAt(16) !== COLON) return -1;
  const separator = text.charCodeAt(10);
  if (separator !== LETTER_T && separator !== SPACE) return -1;
  let end = 19;
  if (text.charCodeAt(end) === DOT) {
    const fractionStart = ++end;
    while (isDigit(text.charCodeAt(end))) end++;
    if (end === fractionStart) return -1;
  }
  return end;
}

/** Normalises an ISO timestamp from a JSON record; null when it is not one. */
function isoTimestamp(value: unknown, options: ParseOptions): string | null {
  if (typeof value !== "string") return null;
  const end = endOfDateTime(value);
  if (end === -1 || !isPlausibleDateTime(value)) return null;
  // The processor's own form (`isoformat()` of a UTC time) is already the canonical one: every JSON line.
  if (value[10] === "T" && value.length === end + 6 && value.endsWith("+00:00")) return value;
  const zone = value.slice(end);
  if (zone !== "" && !ZONE_SUFFIX.test(zone)) return null;
  const dateTime = value[10] === "T" ? value.slice(0, end) : `${value.slice(0, 10)}T${value.slice(11, end)}`;
  return canonicalTimestamp(dateTime, zone || options.naiveZone);
}

function fromLogEntryRecord(rec: JsonRecord, options: ParseOptions): LogEntry | null {
  const timestamp = isoTimestamp(rec.timestamp, options);
  if (timestamp === null) return null;
  // The processor's message may end with a newline (a command's stderr); the text copy's reader trims it.
  let message = (str(rec.message) ?? "").trimEnd();
  const excInfo = str(rec.exc_info)?.trimEnd();
  if (excInfo) message = message ? `${message}\n${excInfo}` : excInfo;
  const entry = emptyEntry(timestamp, str(rec.level) ?? "INFO", str(rec.logger_name), stripAnsi(message));
  // The processor writes `""` for context it has not learned yet (api_user until a webhook ends): no value.
  entry.hook_id = nonEmpty(rec.hook_id);
  entry.event_type = nonEmpty(rec.event_type);
  entry.repository = nonEmpty(rec.repository);
  entry.pr_number = int(rec.pr_number);
  entry.github_user = nonEmpty(rec.api_user) ?? nonEmpty(rec.github_user);
  entry.task_id = str(rec.task_id);
  entry.task_type = str(rec.task_type);
  entry.task_status = str(rec.task_status);
  entry.token_spend = int(rec.token_spend);
  applyMessagePrefix(entry);
  if (entry.task_id === null) extractTaskFields(entry);
  return entry;
}

function describeSummary(rec: JsonRecord, details: WebhookSummaryDetails): string {
  const event = str(rec.event_type) ?? "webhook";
  const what = details.action ? `${event} (${details.action})` : event;
  const took = details.duration_ms === null ? "" : ` in ${details.duration_ms} ms`;
  if (details.success === false) {
    const error = record(details.error);
    const reason = error
      ? [str(error.type), str(error.message)].filter(Boolean).join(": ")
      : str(details.error);
    return `Webhook ${what} failed${took}${reason ? `: ${reason}` : ""}`;
  }
  return `Webhook ${what} ${details.success ? "succeeded" : "completed"}${took}`;
}

function fromSummaryRecord(rec: JsonRecord, options: ParseOptions): LogEntry | null {
  const timing = record(rec.timing);
  const timestamp = isoTimestamp(timing?.started_at, options) ?? isoTimestamp(rec.timestamp, options);
  if (timestamp === null) return null;
  const pr = record(rec.pr);
  const details: WebhookSummaryDetails = {
    action: str(rec.action),
    success: typeof rec.success === "boolean" ? rec.success : null,
    pr_title: str(pr?.title),
    started_at: str(timing?.started_at),
    completed_at: str(timing?.completed_at),
    duration_ms: int(timing?.duration_ms),
    workflow_steps: rec.workflow_steps ?? null,
    error: rec.error ?? null,
  };
  const entry = emptyEntry(
    timestamp,
    str(rec.level) ?? "COMPLETED",
    "webhook_summary",
    describeSummary(rec, details),
  );
  entry.hook_id = str(rec.hook_id);
  entry.event_type = str(rec.event_type);
  entry.repository = str(rec.repository);
  entry.pr_number = int(pr?.number) ?? int(rec.pr_number);
  entry.github_user = str(rec.sender) ?? str(rec.api_user);
  entry.token_spend = int(rec.token_spend);
  entry.summary = details;
  return entry;
}

/** Parses one JSON line (`log_entry` or `webhook_summary`); anything else becomes a raw entry. */
export function parseJsonLine(line: string, options: ParseOptions, now: string): LogEntry {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return rawEntry(line, now);
  }
  return entryOfJsonValue(parsed, line, options, now);
}

/**
 * The entry of a JSON line already parsed to `parsed`: what parseJsonLine gives for that line. `line` is the
 * line's text, or a function giving it, called only when the entry is raw (not a record hookstream knows).
 */
export function entryOfJsonValue(
  parsed: unknown,
  line: string | (() => string),
  options: ParseOptions,
  now: string,
): LogEntry {
  const rec = record(parsed);
  if (rec === null) return rawEntryOf(line, now);
  const type = rec.type ?? "webhook_summary";
  const entry =
    type === "log_entry"
      ? fromLogEntryRecord(rec, options)
      : type === "webhook_summary"
        ? fromSummaryRecord(rec, options)
        : null;
  return entry ?? rawEntryOf(line, now);
}

function rawEntryOf(line: string | (() => string), now: string): LogEntry {
  return rawEntry(typeof line === "string" ? line : line(), now);
}
