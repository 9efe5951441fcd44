/**
 * One log row and its expanded detail, built with `h()` only: every value lands in a Text node. Values a
 * row can be filtered by are buttons carrying `data-filter-field`/`data-filter-value`; the list handles
 * their clicks by delegation.
 */
import type { LogEntry } from "../../logs/entry.ts";
import { h } from "./dom.ts";
import type { ListedEntry } from "./entry-list.ts";
import { describeError, duration, firstLine, levelClass, shortTime, workflowStepRows } from "./format.ts";
import type { PageQueryField } from "./query.ts";

const FIELD_LABELS: Record<string, string> = {
  repository: "repository",
  event_type: "event",
  hook_id: "hook id",
  pr_number: "PR",
  github_user: "user",
  level: "level",
};

function filterChip(field: PageQueryField, value: string | number | null, cell: string, shown?: string) {
  if (value === null || value === "") return h("span", { class: `cell ${cell}` });
  const text = String(value);
  return h("button", {
    class: `cell chip ${cell}`,
    text: shown ?? text,
    title: `Filter by ${FIELD_LABELS[field] ?? field} ${text}`,
    attrs: { type: "button", tabindex: "-1" },
    data: { filterField: field, filterValue: text },
  });
}

/** The hook id and PR chips open the flow view (a hook's timeline, a PR's hooks), as in the original's page. */
function flowChip(kind: "hook" | "pr", value: string | number | null, cell: string, shown: string) {
  if (value === null || value === "") return h("span", { class: `cell ${cell}` });
  const text = String(value);
  return h("button", {
    class: `cell chip ${cell}`,
    text: shown,
    title: kind === "hook" ? `Open the flow of hook ${text}` : `List the hooks of PR #${text}`,
    attrs: { type: "button", tabindex: "-1" },
    data: { flowKind: kind, flowValue: text },
  });
}

export function rowLabel(entry: LogEntry): string {
  return `${entry.level} ${entry.timestamp} ${firstLine(entry.message)}`;
}

export function buildRow(item: ListedEntry, expanded: boolean): HTMLElement {
  const { entry } = item;
  const detailId = `detail-${item.id}`;
  const toggle = h("button", {
    class: "cell toggle",
    text: expanded ? "▾" : "▸",
    attrs: {
      type: "button",
      tabindex: "-1",
      "aria-expanded": String(expanded),
      "aria-controls": detailId,
      "aria-label": expanded ? "Hide details" : "Show details",
    },
  });
  const line = h(
    "div",
    { class: "line" },
    toggle,
    h("time", {
      class: "cell c-time",
      text: shortTime(entry.timestamp),
      title: entry.timestamp,
      attrs: { datetime: entry.timestamp },
    }),
    h(
      "span",
      { class: "cell c-level" },
      h("span", { class: `badge ${levelClass(entry.level)}`, text: entry.level }),
    ),
    filterChip("repository", entry.repository, "c-repo"),
    filterChip("event_type", entry.event_type, "c-event"),
    flowChip("hook", entry.hook_id, "c-hook", entry.hook_id ?? ""),
    flowChip("pr", entry.pr_number, "c-pr", entry.pr_number === null ? "" : `#${entry.pr_number}`),
    filterChip("github_user", entry.github_user, "c-user"),
    h("span", { class: "cell c-logger", text: entry.logger_name ?? "" }),
    h(
      "span",
      { class: "cell c-msg", text: firstLine(entry.message) },
      entry.truncated ? h("span", { class: "tag", text: "truncated" }) : null,
    ),
  );
  const row = h(
    "article",
    {
      class: `row ${levelClass(entry.level)}${expanded ? " expanded" : ""}`,
      attrs: { tabindex: "-1", "aria-label": rowLabel(entry) },
      data: { id: String(item.id) },
    },
    line,
  );
  if (expanded) row.appendChild(buildDetail(entry, detailId));
  return row;
}

const DETAIL_FIELDS = [
  "timestamp",
  "level",
  "logger_name",
  "repository",
  "event_type",
  "hook_id",
  "pr_number",
  "github_user",
  "task_id",
  "task_type",
  "task_status",
  "token_spend",
  "cursor",
] as const satisfies readonly (keyof LogEntry)[];

const FILTERABLE = new Set<string>([
  "repository",
  "event_type",
  "hook_id",
  "pr_number",
  "github_user",
  "level",
]);

/** One `<div><dt/><dd/></div>` of a field list (a valid `dl` child), so the list can flow into columns. */
function fieldItem(label: string, value: string | HTMLElement): HTMLElement {
  return h(
    "div",
    { class: "field-item" },
    h("dt", { text: label }),
    typeof value === "string" ? h("dd", { text: value }) : value,
  );
}

function detailValue(field: (typeof DETAIL_FIELDS)[number], value: unknown): HTMLElement {
  const text = value === null || value === undefined ? "—" : String(value);
  const dd = h("dd", {}, h("span", { class: "value", text }));
  if (FILTERABLE.has(field) && value !== null && value !== undefined)
    dd.appendChild(
      h("button", {
        class: "link-button",
        text: "filter",
        attrs: { type: "button", "aria-label": `Filter by ${FIELD_LABELS[field] ?? field} ${text}` },
        data: { filterField: field, filterValue: text },
      }),
    );
  if ((field === "hook_id" || field === "pr_number") && value !== null && value !== undefined)
    dd.appendChild(
      h("button", {
        class: "link-button",
        text: field === "hook_id" ? "flow" : "hooks",
        attrs: {
          type: "button",
          "aria-label":
            field === "hook_id" ? `Open the flow of hook ${text}` : `List the hooks of PR #${text}`,
        },
        data: { flowKind: field === "hook_id" ? "hook" : "pr", flowValue: text },
      }),
    );
  return dd;
}

export function buildDetail(entry: LogEntry, id: string): HTMLElement {
  const fields = h("dl", { class: "fields" });
  for (const field of DETAIL_FIELDS) fields.append(fieldItem(field, detailValue(field, entry[field])));
  if (entry.truncated) fields.append(fieldItem("truncated", "yes: the line was cut at the length limit"));
  const detail = h(
    "div",
    { class: "detail", attrs: { id } },
    h("pre", { class: "message", text: entry.message }),
    fields,
  );
  if (entry.summary !== undefined) detail.appendChild(buildSummary(entry));
  detail.appendChild(
    h("button", {
      class: "link-button copy-json",
      text: "Copy as JSON",
      attrs: { type: "button" },
      data: { copyEntry: "1" },
    }),
  );
  return detail;
}

function buildSummary(entry: LogEntry): HTMLElement {
  const summary = entry.summary;
  if (summary === undefined) return h("div");
  const facts = h("dl", { class: "fields summary-fields" });
  const add = (label: string, value: string) => {
    if (value !== "") facts.append(fieldItem(label, value));
  };
  add("action", summary.action ?? "");
  add("success", summary.success === null ? "" : summary.success ? "yes" : "no");
  add("PR title", summary.pr_title ?? "");
  add("started", summary.started_at ?? "");
  add("completed", summary.completed_at ?? "");
  add("duration", duration(summary.duration_ms));
  add("error", describeError(summary.error));
  const steps = workflowStepRows(summary.workflow_steps);
  const section = h(
    "section",
    { class: "summary", attrs: { "aria-label": "Webhook summary" } },
    h("h3", { text: "Webhook summary" }),
    facts,
  );
  if (steps.length > 0) {
    const body = h("tbody");
    for (const step of steps)
      body.appendChild(
        h(
          "tr",
          { class: `step step-${/^[a-z_]+$/.test(step.status) ? step.status : "other"}` },
          h("th", { text: step.name, attrs: { scope: "row" } }),
          h("td", { text: step.status }),
          h("td", { class: "num", text: duration(step.durationMs) }),
          h("td", { text: step.at }),
          h("td", { text: step.error }),
        ),
      );
    section.appendChild(
      h(
        "table",
        { class: "steps" },
        h("caption", { text: "Workflow steps" }),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ...["Step", "Status", "Duration", "At", "Error"].map((name) =>
              h("th", { text: name, attrs: { scope: "col" } }),
            ),
          ),
        ),
        body,
      ),
    );
  }
  return section;
}
