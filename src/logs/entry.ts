/**
 * One log entry as streamed on `/logs/ws`: the field set and order the original log viewer sends,
 * plus opt-in extras that old clients ignore.
 */
export interface LogEntry {
  /** ISO 8601; naive timestamps get the configured zone appended so clients never guess. */
  timestamp: string;
  level: string;
  logger_name: string | null;
  message: string;
  hook_id: string | null;
  event_type: string | null;
  repository: string | null;
  pr_number: number | null;
  github_user: string | null;
  task_id: string | null;
  task_type: string | null;
  task_status: string | null;
  token_spend: number | null;
  /** Present on `webhook_summary` records only: what the summary adds beyond the common fields. */
  summary?: WebhookSummaryDetails;
  /** Present (true) when the line was longer than the reader's limit and was cut. */
  truncated?: boolean;
  /** Journal position: opaque, ordered; `/logs/ws?cursor=` continues right after it. */
  cursor?: string;
}

export interface WebhookSummaryDetails {
  action: string | null;
  success: boolean | null;
  pr_title: string | null;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  workflow_steps: unknown;
  error: unknown;
}

/** The logger of the entries the relay adds to the log stream (they are in no log file). */
export const RELAY_LOGGER_NAME = "relay";

/** Levels the processor writes; `UNKNOWN` marks lines hookstream could not parse but still streams. */
export const LOG_LEVELS = [
  "DEBUG",
  "INFO",
  "WARNING",
  "ERROR",
  "CRITICAL",
  "COMPLETED",
  "SUCCESS",
  "STEP",
  "UNKNOWN",
] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The six exact-match filters of `/logs/ws`, in their canonical order. */
export const FILTER_FIELDS = [
  "hook_id",
  "pr_number",
  "repository",
  "event_type",
  "github_user",
  "level",
] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];
