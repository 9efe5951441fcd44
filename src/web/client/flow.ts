/**
 * The flow view: a hook's timeline (its workflow steps with status, duration, time since the start, token
 * spend and errors; a step opens its log lines) and a PR's hooks, in a modal `<dialog>` (Esc closes it,
 * focus stays inside while it is open). Everything shown is set as text.
 */
import type { Api } from "./api.ts";
import { byId, clear, h } from "./dom.ts";
import { hooksOfEntries, readEntries, readStepLogs, readTimeline, type Timeline } from "./flow-model.ts";
import { hookList, flowStatus as status, stepList, stepLogList, timelineFacts } from "./flow-parts.ts";

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

/** A step's log lines into `into`; `current` says whether the dialog still shows the hook they are for. */
async function showStepLogs(
  api: Api,
  hookId: string,
  step: string,
  into: HTMLElement,
  current: () => boolean,
): Promise<void> {
  clear(into);
  into.append(h("h3", { text: `Logs of ${step}` }), status("Loading…"));
  const answer = await api.get(
    `/logs/api/step-logs/${encodeURIComponent(hookId)}/${encodeURIComponent(step)}`,
    (value): value is unknown => readStepLogs(value) !== null,
  );
  if (!current()) return;
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
  into.append(stepLogList(step, logs));
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
  /** A button that closes the dialog and filters the log view by one field. */
  const filterActions = (label: string, field: string, value: string) => {
    const button = h("button", { class: "quiet", text: label, attrs: { type: "button" } });
    button.addEventListener("click", () => {
      dialog.close();
      options.onFilter(field, value);
    });
    return h("div", { class: "flow-actions" }, button);
  };

  function renderTimeline(timeline: Timeline, into: HTMLElement) {
    const logs = h("section", {
      class: "flow-step-logs",
      attrs: { "aria-label": "Step logs", "aria-live": "polite" },
    });
    const list = stepList(timeline, (step) => {
      const mine = generation;
      void showStepLogs(api, timeline.hookId, step.name, logs, () => mine === generation);
    });
    into.append(
      timelineFacts(timeline),
      filterActions("Show only this hook's entries", "hook_id", timeline.hookId),
      h("h3", { text: "Workflow steps" }),
      list,
      logs,
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
        filterActions("Show only this hook's entries", "hook_id", hookId),
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
    const list = hookList(prNumber, hooks, (hookId) => void openHook(hookId));
    body.append(
      h("p", { text: `${hooks.length} hook${hooks.length === 1 ? "" : "s"} for PR #${prNumber}` }),
      list,
      filterActions(`Show only PR #${prNumber}'s entries`, "pr_number", prNumber),
    );
    list.querySelector<HTMLButtonElement>("button")?.focus();
  }

  return {
    openHook: (hookId) => void openHook(hookId),
    openPr: (prNumber) => void openPr(prNumber),
  };
}
