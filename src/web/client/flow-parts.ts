/**
 * The pieces the flow view is drawn from: a hook's facts, one workflow step, a step's log lines and one hook
 * of a PR. Everything is set as text; what they do when used is the view's business.
 */
import type { LogEntry } from "../../logs/entry.ts";
import { h } from "./dom.ts";
import {
  hookCounts,
  markClass,
  type PrHook,
  relativeTime,
  stepLabel,
  type Timeline,
  type TimelineStep,
  timelineResult,
} from "./flow-model.ts";
import { duration, firstLine, levelClass, shortTime } from "./format.ts";

export function flowStatus(text: string): HTMLElement {
  return h("p", { class: "muted flow-status", text, attrs: { role: "status" } });
}

function fact(label: string, value: string): HTMLElement {
  return h("div", { class: "field-item" }, h("dt", { text: label }), h("dd", { text: value || "—" }));
}

export function timelineFacts(timeline: Timeline): HTMLElement {
  return h(
    "dl",
    { class: "fields" },
    fact("hook", timeline.hookId),
    fact("repository", timeline.repository),
    fact("event", timeline.event),
    fact("started", timeline.startTime),
    fact("steps", String(timeline.steps.length)),
    fact("duration", duration(timeline.totalMs)),
    fact("token spend", timeline.tokenSpend === null ? "" : `${timeline.tokenSpend} API calls`),
    fact("result", timelineResult(timeline)),
  );
}

/** A step's button; disabled when the steps come from tagged lines, which have no logs to open. */
function stepButton(step: TimelineStep, hasLogs: boolean): HTMLButtonElement {
  const button = h(
    "button",
    {
      class: `flow-step ${markClass(step.mark)}`,
      attrs: { type: "button", "aria-label": stepLabel(step, hasLogs) },
    },
    h("span", { class: "mark", text: step.mark, attrs: { "aria-hidden": "true" } }),
    h("span", { class: "step-name", text: step.name }),
    h("span", { class: "step-status", text: step.status }),
    h("span", { class: "num", text: duration(step.durationMs) }),
    h("span", { class: "num muted", text: relativeTime(step.relativeMs), title: step.timestamp }),
  );
  if (!hasLogs) button.disabled = true;
  return button;
}

export function stepLogList(step: string, logs: readonly LogEntry[]): HTMLElement {
  return h(
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
  );
}

function hookButton(hook: PrHook): HTMLElement {
  return h(
    "button",
    { class: "flow-hook", attrs: { type: "button" } },
    h("span", { class: "hook-id", text: hook.hookId }),
    h("span", { text: hook.event }),
    h("time", { class: "c-time", text: shortTime(hook.firstAt), attrs: { datetime: hook.firstAt } }),
    h("span", { class: hook.errors > 0 ? "step-error" : "muted", text: hookCounts(hook) }),
  );
}

/** The workflow steps, each with its error under it; `onStep` opens a step's logs. */
export function stepList(timeline: Timeline, onStep: (step: TimelineStep) => void): HTMLElement {
  const list = h("ol", { class: "flow-steps", attrs: { "aria-label": "Workflow steps" } });
  for (const step of timeline.steps) {
    const button = stepButton(step, timeline.fromSummary);
    button.addEventListener("click", () => onStep(step));
    list.appendChild(
      h("li", {}, button, step.error ? h("p", { class: "step-error", text: step.error }) : null),
    );
  }
  return list;
}

/** A PR's hooks, oldest first; `onHook` opens a hook's timeline. */
export function hookList(
  prNumber: string,
  hooks: readonly PrHook[],
  onHook: (hookId: string) => void,
): HTMLElement {
  const list = h("ul", { class: "flow-hooks", attrs: { "aria-label": `Hooks of PR #${prNumber}` } });
  for (const hook of hooks) {
    const button = hookButton(hook);
    button.addEventListener("click", () => onHook(hook.hookId));
    list.appendChild(h("li", {}, button));
  }
  return list;
}
