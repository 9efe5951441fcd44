/**
 * The flow view: a hook's timeline (its workflow steps with status, duration, time since the start, token
 * spend and errors; a step opens its log lines) and a PR's hooks, in a modal `<dialog>` (Esc closes it,
 * focus stays inside while it is open). Everything shown is set as text.
 */
import type { Api } from "./api.ts";
import { byId, clear, h } from "./dom.ts";
import {
  hooksOfEntries,
  readEntries,
  readStepLogs,
  readTimeline,
  relativeTime,
  type Timeline,
} from "./flow-model.ts";
import { duration, firstLine, levelClass, shortTime } from "./format.ts";

/** Entries a PR's hook list is built from: the original's PR view asks for as many. */
const PR_ENTRIES = 10_000;

export interface FlowView {
  openHook(hookId: string): void;
  openPr(prNumber: string): void;
}

export interface FlowViewOptions {
  /** Filters the log view by one field (and the dialog closes). */
  onFilter(field: string, value: string): void;
  /** Adds what the page knows about the webhook behind a hook (the relayed delivery) to `into`. */
  describeWebhook?(hookId: string, into: HTMLElement): void;
}

function fact(label: string, value: string): HTMLElement {
  return h("div", { class: "field-item" }, h("dt", { text: label }), h("dd", { text: value || "—" }));
}

export function createFlowView(api: Api, options: FlowViewOptions): FlowView {
  const dialog = byId("flow-dialog", HTMLDialogElement);
  const title = byId("flow-title", HTMLElement);
  const body = byId("flow-body", HTMLElement);
  byId("flow-close", HTMLButtonElement).addEventListener("click", () => dialog.close());
  /** Bumped on every navigation, so an answer for a view already left is dropped. */
  let generation = 0;

  const open = (heading: string): number => {
    title.textContent = heading;
    clear(body);
    if (!dialog.open) dialog.showModal();
    return ++generation;
  };
  const status = (text: string) => h("p", { class: "muted flow-status", text, attrs: { role: "status" } });
  const filterButton = (label: string, field: string, value: string) => {
    const button = h("button", { class: "quiet", text: label, attrs: { type: "button" } });
    button.addEventListener("click", () => {
      dialog.close();
      options.onFilter(field, value);
    });
    return button;
  };

  function renderTimeline(timeline: Timeline, into: HTMLElement) {
    const facts = h(
      "dl",
      { class: "fields" },
      fact("hook", timeline.hookId),
      fact("repository", timeline.repository),
      fact("event", timeline.event),
      fact("started", timeline.startTime),
      fact("steps", String(timeline.steps.length)),
      fact("duration", duration(timeline.totalMs)),
      fact("token spend", timeline.tokenSpend === null ? "" : `${timeline.tokenSpend} API calls`),
      fact(
        "result",
        timeline.success === null
          ? ""
          : timeline.success
            ? "succeeded"
            : `failed${timeline.error ? `: ${timeline.error}` : ""}`,
      ),
    );
    const logs = h("section", {
      class: "flow-step-logs",
      attrs: { "aria-label": "Step logs", "aria-live": "polite" },
    });
    const list = h("ol", { class: "flow-steps", attrs: { "aria-label": "Workflow steps" } });
    for (const step of timeline.steps) {
      const button = h(
        "button",
        {
          class: `flow-step mark-${step.mark === "✓" ? "ok" : step.mark === "✗" ? "failed" : "pending"}`,
          attrs: {
            type: "button",
            "aria-label": `${step.name}: ${step.status}${step.durationMs === null ? "" : `, ${duration(step.durationMs)}`}${timeline.fromSummary ? "; show its logs" : ""}`,
          },
        },
        h("span", { class: "mark", text: step.mark, attrs: { "aria-hidden": "true" } }),
        h("span", { class: "step-name", text: step.name }),
        h("span", { class: "step-status", text: step.status }),
        h("span", { class: "num", text: duration(step.durationMs) }),
        h("span", { class: "num muted", text: relativeTime(step.relativeMs), title: step.timestamp }),
      );
      if (!timeline.fromSummary) button.disabled = true;
      button.addEventListener("click", () => void showStepLogs(timeline.hookId, step.name, logs));
      list.appendChild(
        h("li", {}, button, step.error ? h("p", { class: "step-error", text: step.error }) : null),
      );
    }
    into.append(
      facts,
      h(
        "div",
        { class: "flow-actions" },
        filterButton("Show only this hook's entries", "hook_id", timeline.hookId),
      ),
      h("h3", { text: "Workflow steps" }),
      list,
      logs,
    );
  }

  async function showStepLogs(hookId: string, step: string, into: HTMLElement) {
    const mine = generation;
    clear(into);
    into.append(h("h3", { text: `Logs of ${step}` }), status("Loading…"));
    const answer = await api.get(
      `/logs/api/step-logs/${encodeURIComponent(hookId)}/${encodeURIComponent(step)}`,
      (value): value is unknown => readStepLogs(value) !== null,
    );
    if (mine !== generation) return;
    clear(into);
    into.append(h("h3", { text: `Logs of ${step}` }));
    if (!answer.ok) {
      into.append(status(`Could not load the step's logs: ${answer.message}`));
      return;
    }
    const { logs } = readStepLogs(answer.data) as NonNullable<ReturnType<typeof readStepLogs>>;
    if (logs.length === 0) {
      into.append(status("No log lines in this step's time window."));
      return;
    }
    into.append(
      h(
        "ol",
        { class: "flow-log", attrs: { tabindex: "0", "aria-label": `Log lines of ${step}, newest first` } },
        ...logs.map((entry) =>
          h(
            "li",
            {},
            h("time", {
              class: "c-time",
              text: shortTime(entry.timestamp),
              attrs: { datetime: entry.timestamp },
            }),
            h("span", { class: `badge ${levelClass(entry.level)}`, text: entry.level }),
            h("span", { class: "flow-log-message", text: firstLine(entry.message) }),
          ),
        ),
      ),
    );
  }

  async function openHook(hookId: string) {
    const mine = open(`Hook ${hookId}`);
    const timelineArea = h("div", {}, status("Loading the workflow steps…"));
    const webhookArea = h("section", { class: "flow-webhook", attrs: { "aria-label": "Webhook" } });
    body.append(timelineArea, webhookArea);
    options.describeWebhook?.(hookId, webhookArea);
    const answer = await api.get(
      `/logs/api/workflow-steps/${encodeURIComponent(hookId)}`,
      (value): value is unknown => readTimeline(value) !== null,
    );
    if (mine !== generation) return;
    clear(timelineArea);
    if (!answer.ok) {
      timelineArea.append(
        status(answer.message),
        h("div", { class: "flow-actions" }, filterButton("Show only this hook's entries", "hook_id", hookId)),
      );
      return;
    }
    renderTimeline(readTimeline(answer.data) as Timeline, timelineArea);
    timelineArea.querySelector<HTMLButtonElement>("button.flow-step:not([disabled])")?.focus();
  }

  async function openPr(prNumber: string) {
    const mine = open(`PR #${prNumber}`);
    body.append(status("Loading the PR's hooks…"));
    const answer = await api.get(
      `/logs/api/entries?pr_number=${encodeURIComponent(prNumber)}&limit=${PR_ENTRIES}`,
      (value): value is unknown => readEntries(value) !== null,
    );
    if (mine !== generation) return;
    clear(body);
    if (!answer.ok) {
      body.append(status(`Could not load the PR's entries: ${answer.message}`));
      return;
    }
    const hooks = hooksOfEntries(readEntries(answer.data) ?? []);
    const list = h("ul", { class: "flow-hooks", attrs: { "aria-label": `Hooks of PR #${prNumber}` } });
    for (const hook of hooks) {
      const button = h(
        "button",
        { class: "flow-hook", attrs: { type: "button" } },
        h("span", { class: "hook-id", text: hook.hookId }),
        h("span", { text: hook.event }),
        h("time", { class: "c-time", text: shortTime(hook.firstAt), attrs: { datetime: hook.firstAt } }),
        h("span", {
          class: hook.errors > 0 ? "step-error" : "muted",
          text: `${hook.entries} entries${hook.errors > 0 ? `, ${hook.errors} errors` : ""}`,
        }),
      );
      button.addEventListener("click", () => void openHook(hook.hookId));
      list.appendChild(h("li", {}, button));
    }
    body.append(
      h("p", { text: `${hooks.length} hook${hooks.length === 1 ? "" : "s"} for PR #${prNumber}` }),
      list,
      h(
        "div",
        { class: "flow-actions" },
        filterButton(`Show only PR #${prNumber}'s entries`, "pr_number", prNumber),
      ),
    );
    list.querySelector<HTMLButtonElement>("button")?.focus();
  }

  return {
    openHook: (hookId) => void openHook(hookId),
    openPr: (prNumber) => void openPr(prNumber),
  };
}
