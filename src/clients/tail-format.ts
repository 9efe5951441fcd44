/**
 * What `hookstream tail` prints for each message of `/logs/ws`. Every string that came from a log line goes
 * through terminalSafe (or terminalSafeJson) before it is printed. Pure.
 */
import { parseJsonObject } from "./relay-frames.ts";
import { terminalSafe, terminalSafeJson } from "./terminal-text.ts";

export type LogFrame =
  | { kind: "entry"; entry: Record<string, unknown>; cursor: string | null }
  | { kind: "control"; message: string }
  | { kind: "error"; message: string }
  | { kind: "invalid"; reason: string };

export function parseLogFrame(text: string): LogFrame {
  const parsed = parseJsonObject(text);
  if (!parsed.ok) return { kind: "invalid", reason: parsed.reason };
  const record = parsed.value;
  if (record.control === "gap")
    return {
      kind: "control",
      message: `gap: ${String(record.message ?? "")} (asked for ${String(record.requested)}, continuing at ${String(record.resumed_from)})`,
    };
  // `live`: the backfill is done. Said to people only; scripts read entries.
  if (typeof record.control === "string") return { kind: "control", message: `${record.control}` };
  if (typeof record.error === "string" && record.level === undefined)
    return { kind: "error", message: record.error };
  return { kind: "entry", entry: record, cursor: typeof record.cursor === "string" ? record.cursor : null };
}

/** SGR colours by level: problems stand out, routine steps recede. */
const LEVEL_COLOURS: Record<string, string> = {
  CRITICAL: "1;31",
  ERROR: "31",
  WARNING: "33",
  INFO: "32",
  DEBUG: "2",
  SUCCESS: "1;32",
  COMPLETED: "36",
  STEP: "34",
  UNKNOWN: "35",
};

const text = (value: unknown) =>
  value === null || value === undefined ? "" : terminalSafe(String(value), false);

/**
 * `<timestamp> <LEVEL> <logger> <repo>#<pr> [<event>][<hook>][<user>] <message>`. Continuation lines of a
 * message (a traceback) are indented, so a message can never print something that looks like an entry.
 */
export function formatEntry(entry: Record<string, unknown>, colour: boolean): string {
  const level = text(entry.level) || "UNKNOWN";
  const code = LEVEL_COLOURS[level] ?? "0";
  const shownLevel = colour ? `\u001b[${code}m${level.padEnd(9)}\u001b[0m` : level.padEnd(9);
  const repository = text(entry.repository);
  const pr = text(entry.pr_number);
  const where = repository === "" && pr === "" ? "" : ` ${repository}${pr === "" ? "" : `#${pr}`}`;
  const context = [entry.event_type, entry.hook_id, entry.github_user].map(text);
  const tags = context.some((part) => part !== "") ? ` ${context.map((part) => `[${part}]`).join("")}` : "";
  const message = terminalSafe(String(entry.message ?? ""))
    .replace(/\n+$/, "")
    .replaceAll("\n", "\n    ");
  return `${text(entry.timestamp)} ${shownLevel} ${text(entry.logger_name)}${where}${tags} ${message}`;
}

export const formatEntryJson = (entry: Record<string, unknown>) => terminalSafeJson(entry);
