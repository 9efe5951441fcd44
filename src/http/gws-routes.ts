/**
 * The original log viewer's flow routes, answered from the history index: `GET /logs/api/pr-flow/{id}`,
 * `GET /logs/api/workflow-steps/{hook_id}` and `GET /logs/api/step-logs/{hook_id}/{step}`. The index finds a
 * hook's or a PR's entries by their Bloom keys; a summary's own record (for the fields an entry does not
 * carry, such as `pr`) is read back from its one line. Shapes are built by the pure functions of flow.ts.
 */
import { type Context, Hono } from "hono";
import type { HistoryIndex, IndexedEntry } from "../history/chunk-index.ts";
import {
  buildPrFlow,
  isoMicros,
  parseFlowId,
  stepWindow,
  summaryTimeline,
  taggedTimeline,
} from "../history/flow.ts";
import { historyPages } from "../history/pages.ts";
import type { LogEntry } from "../logs/entry.ts";
import type { LogFilters } from "../logs/topics.ts";
import { errorBody } from "../transport/errors.ts";
import { allowRequestTime } from "../transport/request-time.ts";
import { type AppEnv, clientAddress } from "../transport/upgrade.ts";
import { serialiseEntry } from "./history-routes.ts";
import type { LogsAccess } from "./logs-access.ts";
import { isTrustedAddress } from "./trusted-network.ts";

/** Entries one flow is built from at most (the original reads 10,000): a hook has a few hundred. */
export const MAX_FLOW_ENTRIES = 10_000;
/** Log lines one step answers at most (the original's). */
export const MAX_STEP_LOGS = 500;
/** Longest hook id or step name in a path (the original's bound). */
const MAX_PATH_PARAM = 100;

export interface FlowRoutesDeps {
  index: HistoryIndex;
  budgetMs: number;
  access: LogsAccess;
}

export function createFlowRoutes(deps: FlowRoutesDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get("/logs/api/pr-flow/:id", (c) => {
    allowRequestTime(c, deps.budgetMs);
    return answerPrFlow(c, deps);
  });
  routes.get("/logs/api/workflow-steps/:hook_id", (c) => {
    allowRequestTime(c, deps.budgetMs);
    return answerWorkflowSteps(c, deps);
  });
  routes.get("/logs/api/step-logs/:hook_id/:step", (c) => {
    // Two queries (the summary, then the step's window), each within the budget.
    allowRequestTime(c, 2 * deps.budgetMs);
    return answerStepLogs(c, deps);
  });
  return routes;
}

/** Every entry matching `filters` (newest first), up to `limit`, within the time budget. */
async function collect(
  deps: FlowRoutesDeps,
  filters: LogFilters,
  range: { startMs: number | null; endMs: number | null } = { startMs: null, endMs: null },
  limit = MAX_FLOW_ENTRIES,
): Promise<{ items: IndexedEntry[]; complete: boolean }> {
  const items: IndexedEntry[] = [];
  let complete = true;
  const query = { filters, search: null, ...range, limit, before: null };
  for await (const page of historyPages(deps.index, query, Date.now() + deps.budgetMs)) {
    items.push(...page.entries);
    complete &&= page.complete;
  }
  return { items, complete };
}

/** The newest `webhook_summary` record of a hook, parsed from its line; undefined when it has none. */
async function summaryRecord(
  index: HistoryIndex,
  items: readonly IndexedEntry[],
): Promise<{ record: unknown } | undefined> {
  const summary = items.find((item) => item.entry.summary !== undefined);
  if (summary === undefined) return undefined;
  const line = await index.readLine(summary.file, summary.offset);
  if (line === null) return undefined;
  try {
    return { record: JSON.parse(line) as unknown };
  } catch {
    return { record: null }; // reported as malformed by the checks
  }
}

const tooLong = (value: string, name: string) =>
  value.length === 0 || value.length > MAX_PATH_PARAM
    ? errorBody(`${name} must be 1 to ${MAX_PATH_PARAM} characters`, { field: name })
    : null;

/** The seven stages of a PR's or a hook's processing. */
async function answerPrFlow(c: Context<AppEnv, "/logs/api/pr-flow/:id">, deps: FlowRoutesDeps) {
  const id = c.req.param("id");
  const bad = tooLong(id, "id");
  if (bad !== null) return c.json(bad, 400);
  const parsed = parseFlowId(id);
  if (parsed.kind === "invalid") return c.json(errorBody(parsed.message, { field: "id" }), 400);
  const filters: LogFilters =
    parsed.kind === "hook" ? { hook_id: parsed.hookId } : { pr_number: String(parsed.prNumber) };
  const { items } = await collect(deps, filters);
  const flow = buildPrFlow(
    id,
    items.map((item) => item.entry),
  );
  if (flow === null) return c.json(errorBody(`No data found for hook_id: ${id}`), 404);
  return c.json(flow);
}

/** A hook's workflow steps from its summary, or else from its tagged text lines. */
async function answerWorkflowSteps(
  c: Context<AppEnv, "/logs/api/workflow-steps/:hook_id">,
  deps: FlowRoutesDeps,
) {
  const hookId = c.req.param("hook_id");
  const bad = tooLong(hookId, "hook_id");
  if (bad !== null) return c.json(bad, 400);
  const { items } = await collect(deps, { hook_id: hookId });
  const found = await summaryRecord(deps.index, items);
  let malformed: string | null = null;
  if (found !== undefined) {
    const timeline = summaryTimeline(hookId, found.record);
    if (timeline.ok) return c.json(timeline.value);
    malformed = timeline.reason;
  }
  // No usable summary: steps from `[task_id=…][task_status=…]` tags in the hook's lines, as the original.
  if (items.length === 0) return c.json(errorBody(`No data found for hook ID: ${hookId}`), 404);
  const entries: LogEntry[] = items.map((item) => item.entry);
  const tagged = taggedTimeline(hookId, entries);
  if (tagged === null) {
    const why = malformed === null ? "" : ` (its webhook_summary is malformed: ${malformed})`;
    return c.json(errorBody(`No workflow steps found for hook ID: ${hookId}${why}`), 404);
  }
  return c.json(tagged);
}

/** The log lines within one step's window, as the summary dates it. */
async function answerStepLogs(
  c: Context<AppEnv, "/logs/api/step-logs/:hook_id/:step">,
  deps: FlowRoutesDeps,
) {
  // Step logs show a webhook's processing in detail: without LOGS_TOKEN, trusted networks only (the original's rule).
  if (!deps.access.required && !isTrustedAddress(clientAddress(c)))
    return c.json(errorBody("Access denied: Log viewer is only accessible from trusted networks."), 403);
  const hookId = c.req.param("hook_id");
  const stepName = c.req.param("step");
  const bad = tooLong(hookId, "hook_id") ?? tooLong(stepName, "step");
  if (bad !== null) return c.json(bad, 400);
  const { items } = await collect(deps, { hook_id: hookId });
  const found = await summaryRecord(deps.index, items);
  if (found === undefined) return c.json(errorBody(`No JSON log entry found for hook ID: ${hookId}`), 404);
  const window = stepWindow(found.record, stepName);
  if (window.ok === "absent")
    return c.json(errorBody(`Step '${stepName}' not found for hook ID: ${hookId}`), 404);
  if (!window.ok)
    return c.json(errorBody(`The webhook_summary of hook ${hookId} is malformed: ${window.reason}`), 422);
  const { fromMicros, toMicros } = window.value;
  const inWindow = await collect(
    deps,
    { hook_id: hookId },
    { startMs: Math.floor(fromMicros / 1000), endMs: Math.ceil(toMicros / 1000) },
  );
  const logs = inWindow.items
    .filter((item) => {
      if (item.entry.summary !== undefined) return false; // the summary is the flow itself, not a log line
      const at = isoMicros(item.entry.timestamp);
      return at !== null && at >= fromMicros && at <= toMicros;
    })
    .slice(0, MAX_STEP_LOGS);
  const body = `{"step":${JSON.stringify(window.value.step)},"logs":[${logs.map(serialiseEntry).join(",")}],"log_count":${logs.length}}`;
  return c.body(body, 200, { "Content-Type": "application/json; charset=utf-8" });
}
