/**
 * The processor's flow views, pure: what `/logs/api/pr-flow/{id}`, `/logs/api/workflow-steps/{hook_id}` and
 * `/logs/api/step-logs/{hook_id}/{step}` answer, built from entries and summary records already read.
 * Shapes and rules are the original log viewer's (docs: GWS-LOG-VIEWER.md §4–6); where the original crashes
 * (a malformed summary, a bad step timestamp) these return a reason instead.
 */
import type { LogEntry } from "../logs/entry.ts";

/** Default window of a step whose summary has no duration (the original's). */
export const DEFAULT_STEP_WINDOW_MS = 60_000;

export type FlowId =
  | { kind: "hook"; hookId: string }
  | { kind: "pr"; prNumber: number }
  | { kind: "invalid"; message: string };

const INTEGER = /^\s*[+-]?\d+\s*$/;

/** `hook-<id>` → that hook; `pr-<n>` → that PR; a bare integer → a PR; anything else → a hook id. */
export function parseFlowId(id: string): FlowId {
  if (id.startsWith("hook-")) return { kind: "hook", hookId: id.slice(5) };
  if (id.startsWith("pr-")) {
    const rest = id.slice(3);
    return INTEGER.test(rest)
      ? { kind: "pr", prNumber: Number(rest) }
      : { kind: "invalid", message: `"${id}" is not a flow id: after "pr-" comes a PR number` };
  }
  if (INTEGER.test(id)) return { kind: "pr", prNumber: Number(id) };
  return { kind: "hook", hookId: id };
}

/**
 * Epoch microseconds of an ISO 8601 timestamp (a naive one read as UTC, as the original does); null when it
 * is not one. Microseconds, because the processor writes them and durations are truncated from them.
 */
export function isoMicros(text: string): number | null {
  const match = /^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?$/.exec(
    text.trim(),
  );
  if (match === null) return null;
  const [, whole = "", fraction = "", zone = "Z"] = match;
  const normalZone = zone === "Z" ? "Z" : zone.includes(":") ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const ms = Date.parse(`${whole.replace(" ", "T")}${normalZone}`);
  if (Number.isNaN(ms)) return null;
  return ms * 1000 + Number(fraction.padEnd(6, "0").slice(0, 6));
}

/** Whole milliseconds from `from` to `to`, truncated toward zero as Python's `int()` does. */
function msBetween(fromMicros: number, toMicros: number): number {
  return Math.trunc((toMicros - fromMicros) / 1000);
}

// --- pr-flow -------------------------------------------------------------------------------------------

/** The original's seven stages, in order; each takes the first entry (in time) whose message matches. */
export const FLOW_STAGES: ReadonlyArray<{ name: string; pattern: RegExp }> = [
  { name: "Webhook Received", pattern: /processing webhook/i },
  { name: "Validation Complete", pattern: /signature verification successful|processing webhook for/i },
  { name: "Reviewers Assigned", pattern: /added reviewer|owners file|reviewer assignment/i },
  { name: "Labels Applied", pattern: /label|tag/i },
  { name: "Checks Started", pattern: /check|test|build/i },
  { name: "Checks Complete", pattern: /check.*complete|test.*pass|build.*success/i },
  { name: "Processing Complete", pattern: /completed successfully|processing complete/i },
];

export interface FlowStage {
  name: string;
  timestamp: string;
  duration_ms: number | null;
  error?: string;
}

export interface PrFlow {
  identifier: string;
  stages: FlowStage[];
  total_duration_ms: number;
  success: boolean;
  error?: string;
}

/** The stages of a hook's or a PR's entries (any order); null when there are none. */
export function buildPrFlow(identifier: string, entries: readonly LogEntry[]): PrFlow | null {
  const timed = entries
    .map((entry) => ({ entry, at: isoMicros(entry.timestamp) }))
    .filter((item): item is { entry: LogEntry; at: number } => item.at !== null)
    .sort((a, b) => a.at - b.at);
  const first = timed[0];
  const last = timed.at(-1);
  if (first === undefined || last === undefined) return null;
  const stages: FlowStage[] = [];
  let previous = first.at;
  let error: string | undefined;
  for (const { name, pattern } of FLOW_STAGES) {
    const found = timed.find((item) => pattern.test(item.entry.message));
    if (found === undefined) continue;
    const stage: FlowStage = {
      name,
      timestamp: found.entry.timestamp,
      duration_ms: found.at === first.at ? null : msBetween(previous, found.at),
    };
    if (found.entry.level === "ERROR") {
      stage.error = found.entry.message;
      error = found.entry.message;
    }
    stages.push(stage);
    previous = found.at;
  }
  error ??= timed.find((item) => item.entry.level === "ERROR")?.entry.message;
  return {
    identifier,
    stages,
    total_duration_ms: msBetween(first.at, last.at),
    success: error === undefined,
    ...(error === undefined ? {} : { error }),
  };
}

// --- workflow steps from a webhook_summary record --------------------------------------------------------

type JsonRecord = Record<string, unknown>;

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export interface SummaryStep {
  timestamp: unknown;
  step_name: string;
  message: string;
  level: string;
  repository: unknown;
  event_type: unknown;
  pr_number: unknown;
  task_id: string;
  task_type: unknown;
  task_status: unknown;
  duration_ms: unknown;
  error: unknown;
  step_details: JsonRecord;
  relative_time_ms: number;
}

export interface SummaryTimeline {
  hook_id: string;
  start_time: unknown;
  total_duration_ms: unknown;
  step_count: number;
  steps: SummaryStep[];
  token_spend: unknown;
  event_type: unknown;
  action: unknown;
  repository: unknown;
  sender: unknown;
  pr: unknown;
  success: unknown;
  error: unknown;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Why a summary record cannot give steps (the original's checks), or its steps. */
export function checkSummary(record: unknown): Checked<{ timing: JsonRecord; steps: JsonRecord }> {
  if (!isRecord(record)) return { ok: false, reason: "the record is not a JSON object" };
  const { timing, workflow_steps: steps, pr } = record;
  if (!isRecord(timing) || Object.keys(timing).length === 0)
    return { ok: false, reason: "timing is not a non-empty object" };
  if (!isRecord(steps) || Object.keys(steps).length === 0)
    return { ok: false, reason: "workflow_steps is not a non-empty object" };
  if (timing.started_at === undefined || timing.duration_ms === undefined)
    return { ok: false, reason: "timing lacks started_at or duration_ms" };
  if (pr !== undefined && pr !== null && !isRecord(pr))
    return { ok: false, reason: "pr is neither null nor an object" };
  for (const [name, step] of Object.entries(steps)) {
    if (!isRecord(step)) return { ok: false, reason: `step ${name} is not an object` };
    if (step.timestamp === undefined || step.timestamp === null || step.timestamp === "")
      return { ok: false, reason: `step ${name} has no timestamp` };
  }
  return { ok: true, value: { timing, steps } };
}

/** `str()` of a Python value, close enough for a message: strings as they are, the rest as JSON. */
function pyStr(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function stepMessage(name: string, step: JsonRecord, status: string): string {
  const error = step.error;
  if (error !== undefined && error !== null && error !== "" && error !== false) {
    const detail = isRecord(error) && error.message !== undefined ? pyStr(error.message) : pyStr(error);
    return `${name}: ${status} - ${detail}`;
  }
  if (step.duration_ms !== undefined && step.duration_ms !== null)
    return `${name}: ${status} (${pyStr(step.duration_ms)}ms)`;
  return `${name}: ${status}`;
}

function stepLevel(status: string): string {
  if (status === "failed") return "ERROR";
  if (status === "started") return "DEBUG";
  return "INFO";
}

/** The timeline of a summary record (its steps sorted by timestamp), or why it is malformed. */
export function summaryTimeline(hookId: string, record: unknown): Checked<SummaryTimeline> {
  const checked = checkSummary(record);
  if (!checked.ok) return checked;
  const rec = record as JsonRecord;
  const { timing, steps } = checked.value;
  const pr = isRecord(rec.pr) ? rec.pr : null;
  const start = typeof timing.started_at === "string" ? isoMicros(timing.started_at) : null;
  const built = Object.entries(steps).map(([name, raw]): SummaryStep => {
    const step = raw as JsonRecord;
    const status = step.status === undefined || step.status === null ? "unknown" : pyStr(step.status);
    const at = typeof step.timestamp === "string" ? isoMicros(step.timestamp) : null;
    return {
      timestamp: step.timestamp,
      step_name: name,
      message: stepMessage(name, step, status),
      level: stepLevel(status),
      repository: rec.repository ?? null,
      event_type: rec.event_type ?? null,
      pr_number: pr?.number ?? null,
      task_id: name,
      task_type: step.task_type ?? null,
      task_status: status,
      duration_ms: step.duration_ms ?? null,
      error: step.error ?? null,
      step_details: step,
      relative_time_ms: start !== null && at !== null ? msBetween(start, at) : 0,
    };
  });
  built.sort((a, b) =>
    String(a.timestamp) < String(b.timestamp) ? -1 : String(a.timestamp) > String(b.timestamp) ? 1 : 0,
  );
  return {
    ok: true,
    value: {
      hook_id: hookId,
      start_time: timing.started_at,
      total_duration_ms: timing.duration_ms,
      step_count: built.length,
      steps: built,
      token_spend: rec.token_spend ?? null,
      event_type: rec.event_type ?? null,
      action: rec.action ?? null,
      repository: rec.repository ?? null,
      sender: rec.sender ?? null,
      pr: rec.pr ?? null,
      success: rec.success ?? null,
      error: rec.error ?? null,
    },
  };
}

// --- workflow steps from tagged text entries (the fallback) ---------------------------------------------

export interface TaggedTimeline {
  hook_id: string;
  start_time: string | null;
  total_duration_ms: number;
  step_count: number;
  steps: Array<{
    timestamp: string;
    relative_time_ms: number;
    message: string;
    level: string;
    repository: string | null;
    event_type: string | null;
    pr_number: number | null;
    task_id: string | null;
    task_type: string | null;
    task_status: string | null;
  }>;
  token_spend?: number;
}

/** Steps from entries carrying `[task_id=…]` and `[task_status=…]` tags; null when none do. */
export function taggedTimeline(hookId: string, entries: readonly LogEntry[]): TaggedTimeline | null {
  const tagged = entries
    .filter((entry) => entry.task_id !== null && entry.task_status !== null)
    .map((entry) => ({ entry, at: isoMicros(entry.timestamp) ?? 0 }))
    .sort((a, b) => a.at - b.at);
  const first = tagged[0];
  const last = tagged.at(-1);
  if (first === undefined || last === undefined) return null;
  const spend = entries.find((entry) => entry.token_spend !== null)?.token_spend ?? null;
  return {
    hook_id: hookId,
    start_time: first.entry.timestamp,
    total_duration_ms: msBetween(first.at, last.at),
    step_count: tagged.length,
    steps: tagged.map(({ entry, at }) => ({
      timestamp: entry.timestamp,
      relative_time_ms: msBetween(first.at, at),
      message: entry.message,
      level: entry.level,
      repository: entry.repository,
      event_type: entry.event_type,
      pr_number: entry.pr_number,
      task_id: entry.task_id,
      task_type: entry.task_type,
      task_status: entry.task_status,
    })),
    ...(spend === null ? {} : { token_spend: spend }),
  };
}

// --- step-logs -----------------------------------------------------------------------------------------

export interface StepWindow {
  step: { name: string; status: unknown; timestamp: unknown; duration_ms: unknown; error: unknown };
  /** Inclusive bounds, epoch microseconds. */
  fromMicros: number;
  toMicros: number;
}

/** The step's time window: [its timestamp, + its duration (or a minute)], or why there is none. */
export function stepWindow(record: unknown, stepName: string): Checked<StepWindow> | { ok: "absent" } {
  const checked = checkSummary(record);
  if (!checked.ok) return checked;
  const step = checked.value.steps[stepName];
  if (!isRecord(step)) return { ok: "absent" };
  const from = typeof step.timestamp === "string" ? isoMicros(step.timestamp) : null;
  if (from === null)
    return {
      ok: false,
      reason: `step ${stepName} has a timestamp that is not ISO 8601: ${pyStr(step.timestamp)}`,
    };
  const duration =
    typeof step.duration_ms === "number" && Number.isFinite(step.duration_ms) ? step.duration_ms : null;
  return {
    ok: true,
    value: {
      step: {
        name: stepName,
        status: step.status ?? null,
        timestamp: step.timestamp,
        duration_ms: step.duration_ms ?? null,
        error: step.error ?? null,
      },
      fromMicros: from,
      toMicros: from + Math.round((duration ?? DEFAULT_STEP_WINDOW_MS) * 1000),
    },
  };
}
