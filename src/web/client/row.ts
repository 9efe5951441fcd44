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

/** The chips of a row, in column order: the values a row can be filtered by, and the two that open a flow. */
const CHIPS: readonly {
  cell: string;
  value(entry: LogEntry): string | number | null;
  /** Chosen, it filters by this field, or opens this flow. */
  action: { filter: PageQueryField } | { flow: "hook" | "pr" };
  shown(text: string): string;
}[] = [
  { cell: "c-repo", value: (e) => e.repository, action: { filter: "repository" }, shown: (t) => t },
  { cell: "c-event", value: (e) => e.event_type, action: { filter: "event_type" }, shown: (t) => t },
  { cell: "c-hook", value: (e) => e.hook_id, action: { flow: "hook" }, shown: (t) => t },
  { cell: "c-pr", value: (e) => e.pr_number, action: { flow: "pr" }, shown: (t) => `#${t}` },
  { cell: "c-user", value: (e) => e.github_user, action: { filter: "github_user" }, shown: (t) => t },
];

const chipText = (value: string | number | null): string | null =>
  value === null || value === "" ? null : String(value);

/**
 * Which cells a folded row has (a chip for each value present, the truncated tag): a row leaving the window
 * can show another entry of the same shape by changing only its texts and attributes.
 */
export function rowShape(entry: LogEntry): string {
  let shape = entry.truncated ? "t" : "-";
  for (const chip of CHIPS) shape += chipText(chip.value(entry)) === null ? "0" : "1";
  return shape;
}

function chipTitle(chip: (typeof CHIPS)[number], text: string): string {
  const { action } = chip;
  if ("filter" in action) return `Filter by ${FIELD_LABELS[action.filter] ?? action.filter} ${text}`;
  return action.flow === "hook" ? `Open the flow of hook ${text}` : `List the hooks of PR #${text}`;
}

/** An empty cell, or a button that filters by the value or opens its flow (its value is set by `fill`). */
function chipCell(chip: (typeof CHIPS)[number], present: boolean): HTMLElement {
  if (!present) return h("span", { class: `cell ${chip.cell}` });
  const { action } = chip;
  return h("button", {
    class: `cell chip ${chip.cell}`,
    attrs: { type: "button", tabindex: "-1" },
    data: "filter" in action ? { filterField: action.filter } : { flowKind: action.flow },
  });
}

/** Sets an element's only text, leaving it alone when unchanged (no layout for a cell that did not change). */
function setText(element: Element, text: string): void {
  const node = element.firstChild;
  if (node instanceof Text) {
    if (node.data !== text) node.data = text;
  } else element.prepend(text);
}

function setAttr(element: Element, name: string, value: string): void {
  if (element.getAttribute(name) !== value) element.setAttribute(name, value);
}

export function rowLabel(entry: LogEntry): string {
  return `${entry.level} ${entry.timestamp} ${firstLine(entry.message)}`;
}

/** A row in the DOM and, while it is folded, how to make it show another entry of its shape. */
export interface BuiltRow {
  element: HTMLElement;
  /** `rowShape` of a folded row; null for an expanded one, which is never reused. */
  shape: string | null;
  /** Shows `item` (of the same shape) in this row instead. */
  fill(item: ListedEntry): void;
}

export function buildRow(item: ListedEntry, expanded: boolean): BuiltRow {
  const { entry } = item;
  const toggle = h("button", {
    class: "cell toggle",
    text: expanded ? "▾" : "▸",
    attrs: {
      type: "button",
      tabindex: "-1",
      "aria-expanded": String(expanded),
      "aria-label": expanded ? "Hide details" : "Show details",
    },
  });
  const time = h("time", { class: "cell c-time" });
  const badge = h("span");
  const chips = CHIPS.map((chip) => chipCell(chip, chipText(chip.value(entry)) !== null));
  const logger = h("span", { class: "cell c-logger" });
  const message = h("span", { class: "cell c-msg" });
  if (entry.truncated) message.appendChild(h("span", { class: "tag", text: "truncated" }));
  const line = h(
    "div",
    { class: "line" },
    toggle,
    time,
    h("span", { class: "cell c-level" }, badge),
    ...chips,
    logger,
    message,
  );
  const row = h("article", { attrs: { tabindex: "-1" } }, line);
  const fill = ({ id, entry }: ListedEntry) => {
    const level = levelClass(entry.level);
    row.className = `row ${level}${expanded ? " expanded" : ""}`;
    setAttr(row, "aria-label", rowLabel(entry));
    row.dataset.id = String(id);
    setAttr(toggle, "aria-controls", `detail-${id}`);
    setText(time, shortTime(entry.timestamp));
    setAttr(time, "title", entry.timestamp);
    setAttr(time, "datetime", entry.timestamp);
    badge.className = `badge ${level}`;
    setText(badge, entry.level);
    CHIPS.forEach((chip, i) => {
      const text = chipText(chip.value(entry));
      const cell = chips[i] as HTMLElement;
      if (text === null) return;
      setText(cell, chip.shown(text));
      setAttr(cell, "title", chipTitle(chip, text));
      setAttr(cell, "filter" in chip.action ? "data-filter-value" : "data-flow-value", text);
    });
    setText(logger, entry.logger_name ?? "");
    setText(message, firstLine(entry.message));
  };
  fill(item);
  if (expanded) row.appendChild(buildDetail(entry, `detail-${item.id}`));
  return { element: row, shape: expanded ? null : rowShape(entry), fill };
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
