/**
 * Pure parts of the page's flow view: the answers of `/logs/api/workflow-steps`, `/logs/api/step-logs` and
 * a PR's entries read into what the view shows (status marks, relative times, a PR's hooks).
 */
import type { LogEntry } from "../../logs/entry.ts";
import { isRecord } from "./api.ts";
import { describeError, duration } from "./format.ts";

export interface TimelineStep {
  name: string;
  status: string;
  /** ✓ done, ✗ failed, ◷ started or anything else. */
  mark: "✓" | "✗" | "◷";
  durationMs: number | null;
  relativeMs: number;
  timestamp: string;
  error: string;
  message: string;
}

export interface Timeline {
  hookId: string;
  startTime: string;
  totalMs: number | null;
  tokenSpend: number | null;
  repository: string;
  event: string;
  success: boolean | null;
  error: string;
  steps: TimelineStep[];
  /** Whether the steps come from the hook's summary (they have logs) or from tagged lines (they have none). */
  fromSummary: boolean;
}

const num = (value: unknown): number | null =>
  typeof value === "number" && Number.isFinite(value) ? value : null;
const text = (value: unknown): string => (typeof value === "string" ? value : "");

/** The mark of a step status: the processor writes completed, failed and started. */
export function stepMark(status: string): TimelineStep["mark"] {
  const lower = status.toLowerCase();
  if (lower === "completed" || lower === "success" || lower === "succeeded" || lower === "skipped")
    return "✓";
  if (lower === "failed" || lower === "error" || lower === "failure") return "✗";
  return "◷";
}

/** `18` → `+18 ms`, `1250` → `+1.3 s`: a step's time since the hook started. */
export function relativeTime(ms: number): string {
  return `+${duration(Math.max(0, ms))}`;
}

/** A workflow-steps answer (either path) as the view shows it; null when it is not one. */
export function readTimeline(value: unknown): Timeline | null {
  if (!isRecord(value) || typeof value.hook_id !== "string" || !Array.isArray(value.steps)) return null;
  const fromSummary =
    "step_count" in value && value.steps.every((step) => isRecord(step) && "step_name" in step);
  const steps = value.steps.filter(isRecord).map((step): TimelineStep => {
    const status = text(step.task_status) || "unknown";
    return {
      name: text(step.step_name) || text(step.task_id) || "step",
      status,
      mark: stepMark(status),
      durationMs: num(step.duration_ms),
      relativeMs: num(step.relative_time_ms) ?? 0,
      timestamp: text(step.timestamp),
      error: describeError(step.error),
      message: text(step.message),
    };
  });
  return {
    hookId: value.hook_id,
    startTime: text(value.start_time),
    totalMs: num(value.total_duration_ms),
    tokenSpend: num(value.token_spend),
    repository:
      text(value.repository) ||
      text(steps.length > 0 ? (value.steps[0] as Record<string, unknown>).repository : ""),
    event: text(value.event_type),
    success: typeof value.success === "boolean" ? value.success : null,
    error: describeError(value.error),
    steps,
    fromSummary,
  };
}

export interface StepLogs {
  logs: LogEntry[];
  count: number;
}

export function readStepLogs(value: unknown): StepLogs | null {
  if (!isRecord(value) || !Array.isArray(value.logs)) return null;
  const logs = value.logs.filter(
    (entry): entry is LogEntry =>
      isRecord(entry) && typeof entry.message === "string" && typeof entry.timestamp === "string",
  );
  return { logs, count: num(value.log_count) ?? logs.length };
}

export interface PrHook {
  hookId: string;
  event: string;
  repository: string;
  firstAt: string;
  lastAt: string;
  entries: number;
  errors: number;
}

/** The distinct hooks of a PR's entries, oldest first (as the original's PR view lists them). */
export function hooksOfEntries(entries: readonly LogEntry[]): PrHook[] {
  const hooks = new Map<string, PrHook>();
  for (const entry of entries) {
    if (entry.hook_id === null || entry.hook_id === "") continue;
    let hook = hooks.get(entry.hook_id);
    if (hook === undefined) {
      hook = {
        hookId: entry.hook_id,
        event: entry.event_type ?? "",
        repository: entry.repository ?? "",
        firstAt: entry.timestamp,
        lastAt: entry.timestamp,
        entries: 0,
        errors: 0,
      };
      hooks.set(entry.hook_id, hook);
    }
    hook.entries++;
    if (entry.level === "ERROR") hook.errors++;
    const at = Date.parse(entry.timestamp);
    if (at < Date.parse(hook.firstAt)) hook.firstAt = entry.timestamp;
    if (at > Date.parse(hook.lastAt)) hook.lastAt = entry.timestamp;
    if (hook.event === "" && entry.event_type !== null) hook.event = entry.event_type;
  }
  return [...hooks.values()].sort((a, b) => Date.parse(a.firstAt) - Date.parse(b.firstAt));
}

export function readEntries(value: unknown): LogEntry[] | null {
  if (!isRecord(value) || !Array.isArray(value.entries)) return null;
  return value.entries.filter(
    (entry): entry is LogEntry => isRecord(entry) && typeof entry.timestamp === "string",
  );
}

/** How a hook ended, as its facts show it: empty while unknown. */
export function timelineResult(timeline: Pick<Timeline, "success" | "error">): string {
  if (timeline.success === null) return "";
  if (timeline.success) return "succeeded";
  return `failed${timeline.error ? `: ${timeline.error}` : ""}`;
}

/** The class a step's mark is drawn with. */
export function markClass(mark: TimelineStep["mark"]): string {
  return `mark-${mark === "✓" ? "ok" : mark === "✗" ? "failed" : "pending"}`;
}

/** What a screen reader says of a step's button; only steps from the summary have logs to open. */
export function stepLabel(
  step: Pick<TimelineStep, "name" | "status" | "durationMs">,
  hasLogs: boolean,
): string {
  const took = step.durationMs === null ? "" : `, ${duration(step.durationMs)}`;
  return `${step.name}: ${step.status}${took}${hasLogs ? "; show its logs" : ""}`;
}

/** A PR hook's size: its entries, and its errors when there are any. */
export function hookCounts(hook: Pick<PrHook, "entries" | "errors">): string {
  return `${hook.entries} entries${hook.errors > 0 ? `, ${hook.errors} errors` : ""}`;
}
