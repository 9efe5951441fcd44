/** Pure formatting of entry fields for display: timestamps, levels, summary steps. */
import { LOG_LEVELS } from "../../logs/entry.ts";

/** `2026-11-23T10:00:00.123456Z` → `11-23 10:00:00.123`: date and time to the millisecond, as written. */
export function shortTime(timestamp: string): string {
  const match = /^\d{4}-(\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d{1,3})?/.exec(timestamp);
  if (match === null) return timestamp;
  return `${match[1]} ${match[2]}${(match[3] ?? ".").padEnd(4, "0")}`;
}

// The server's own list: the bundle takes this constant (entry.ts has no imports) and nothing else.
const KNOWN_LEVELS = new Set<string>(LOG_LEVELS);

/** CSS class for a level; levels outside the known set share one class. */
export function levelClass(level: string): string {
  const upper = level.toUpperCase();
  return KNOWN_LEVELS.has(upper) ? `lvl-${upper.toLowerCase()}` : "lvl-other";
}

/** First line of a message, for the one-line row; the detail shows all of it. */
export function firstLine(message: string): string {
  const end = message.indexOf("\n");
  return end === -1 ? message : `${message.slice(0, end)} …`;
}

export interface StepRow {
  name: string;
  status: string;
  durationMs: number | null;
  at: string;
  error: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An error as one line: `{type, message}` → `type: message`; other shapes as JSON. */
export function describeError(error: unknown): string {
  if (error === null || error === undefined) return "";
  if (typeof error === "string") return error;
  if (isRecord(error)) {
    const parts = [error.type, error.message].filter((part): part is string => typeof part === "string");
    if (parts.length > 0) return parts.join(": ");
  }
  return JSON.stringify(error);
}

function stepRow(name: string, value: unknown): StepRow {
  const step = isRecord(value) ? value : {};
  const duration = step.duration_ms;
  const at = step.timestamp ?? step.started_at;
  return {
    name,
    status: typeof step.status === "string" ? step.status : isRecord(value) ? "" : String(value),
    durationMs: typeof duration === "number" && Number.isFinite(duration) ? duration : null,
    at: typeof at === "string" ? at : "",
    error: describeError(step.error),
  };
}

/**
 * `workflow_steps` as table rows. The processor writes an object of step name → `{timestamp, status,
 * duration_ms, error?}`; a list of steps with a `name` (or `step`) is accepted too.
 */
export function workflowStepRows(steps: unknown): StepRow[] {
  if (Array.isArray(steps))
    return steps.map((step, index) => {
      const name = isRecord(step) ? (step.name ?? step.step) : undefined;
      return stepRow(typeof name === "string" ? name : `step ${index + 1}`, step);
    });
  if (isRecord(steps)) return Object.entries(steps).map(([name, step]) => stepRow(name, step));
  return [];
}

/** `1500` → `1.5 s`, `800` → `800 ms`. */
export function duration(ms: number | null): string {
  if (ms === null) return "";
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s` : `${ms} ms`;
}
