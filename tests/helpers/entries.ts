/** A log entry with every field, nulls by default, for tests of routing and matching. */
import type { LogEntry } from "../../src/logs/entry.ts";

export function makeEntry(fields: Partial<LogEntry> = {}): LogEntry {
  return {
    timestamp: "2026-01-01T00:00:00Z",
    level: "INFO",
    logger_name: "x",
    message: "m",
    hook_id: null,
    event_type: null,
    repository: null,
    pr_number: null,
    github_user: null,
    task_id: null,
    task_type: null,
    task_status: null,
    token_spend: null,
    ...fields,
  };
}
