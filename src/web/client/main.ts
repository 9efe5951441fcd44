/**
 * The log page: filters in the URL, the stream with its backfill and reconnects, history, pause, the
 * windowed list and the webhook tab, wired together. Incoming entries are batched and the list is
 * rendered at most once per animation frame.
 */
import type { LogEntry } from "../../logs/entry.ts";
import { createApi, loginUrl } from "./api.ts";
import { byId, h } from "./dom.ts";
import { createEntryList, type ListedEntry } from "./entry-list.ts";
import { createFlowView } from "./flow.ts";
import { createHistoryPager, type HistoryState } from "./history.ts";
import { describeWebhook } from "./hook-webhook.ts";
import { createLogView } from "./log-view.ts";
import {
  createEntryMatcher,
  emptyQuery,
  exportUrl,
  isHistoryMode,
  PAGE_QUERY_FIELDS,
  type PageQuery,
  type PageQueryField,
  pageUrl,
  parsePageQuery,
  sameValues,
  shareUrl,
} from "./query.ts";
import { buildRow } from "./row.ts";
import { type ConnectionState, createLogStream } from "./stream.ts";
import { setUpThemeToggle } from "./theme.ts";
import { createWebhooksView } from "./webhooks.ts";

/** Entries held for the view; past it the oldest are dropped (and the page says so). */
const MAX_ENTRIES = 100_000;
/** Entries held between frames before the list takes them anyway (no frames come while the tab is hidden). */
const MAX_PENDING = 10_000;
/** Entries kept while paused; when full the stream is closed and resumed from its cursor on resume. */
const PAUSE_BUFFER_MAX = 50_000;
/** Must match `--row-height` in logs.css. */
const ROW_HEIGHT = 28;
/** Rows rendered above and below the visible ones, so fast scrolling does not show blank space. */
const OVERSCAN = 8;
/** History waits this long for the stream's backfill before loading anyway. */
const BACKFILL_WAIT_MS = 3_000;
/** Typing in a filter applies it after this pause. */
const TYPING_DEBOUNCE_MS = 500;

const TIME_FIELDS = new Set<PageQueryField>(["start_time", "end_time"]);

/** ISO timestamp → the local `YYYY-MM-DDTHH:MM:SS` a datetime-local input shows. */
function toLocalInput(iso: string): string {
  const date = new Date(iso);
  if (iso === "" || Number.isNaN(date.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function fromLocalInput(value: string): string {
  if (value === "") return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

function connectionText(state: ConnectionState): string {
  switch (state.kind) {
    case "connecting":
      return "Connecting…";
    case "catching_up":
      return "Reconnected, catching up…";
    case "live":
      return "Live";
    case "reconnecting":
      return `Reconnecting in ${(state.inMs / 1000).toFixed(1)} s (attempt ${state.attempt}): ${state.reason}`;
    case "suspended":
      return "Paused: stream held, resumes from the last entry";
    case "failed":
      return `Stopped: ${state.message}`;
  }
}

function start(): void {
  const form = byId("filters", HTMLFormElement);
  const inputs = new Map<PageQueryField, HTMLInputElement | HTMLSelectElement>();
  for (const field of PAGE_QUERY_FIELDS) {
    const input = document.getElementById(`f-${field}`);
    if (input instanceof HTMLInputElement || input instanceof HTMLSelectElement) inputs.set(field, input);
  }
  const connection = byId("connection", HTMLElement);
  const connectionLabel = byId("connection-text", HTMLElement);
  const counts = byId("counts", HTMLElement);
  const toolbarStatus = byId("toolbar-status", HTMLElement);
  const notices = byId("notices", HTMLElement);
  const viewport = byId("log-viewport", HTMLElement);
  const canvas = byId("log-canvas", HTMLElement);
  const empty = byId("empty", HTMLElement);
  const jump = byId("jump", HTMLButtonElement);
  const pauseButton = byId("pause", HTMLButtonElement);
  const olderButton = byId("load-older", HTMLButtonElement);
  const exportNdjson = byId("export-ndjson", HTMLAnchorElement);
  const exportJson = byId("export-json", HTMLAnchorElement);

  let query = parsePageQuery(new URLSearchParams(location.search));
  let matcher = createEntryMatcher(query);
  let connectionState: ConnectionState = { kind: "connecting" };
  let pending: LogEntry[] = [];
  let pauseBuffer: LogEntry[] = [];
  let paused = false;
  let frame = 0;
  let sentToLogin = false;

  const goToLogin = () => {
    if (sentToLogin) return;
    sentToLogin = true;
    location.assign(loginUrl(shareUrl(location.pathname, query)));
  };
  const api = createApi(query.token, goToLogin);

  // The backfill of the current connection: history waits for it so the two meet without repeats.
  let backfillResolve: () => void = () => {};
  let backfill = Promise.resolve();
  const resetBackfill = () => {
    backfill = new Promise<void>((resolve) => {
      backfillResolve = resolve;
      window.setTimeout(resolve, BACKFILL_WAIT_MS);
    });
  };

  const list = createEntryList(MAX_ENTRIES);

  const scheduleRender = () => {
    if (frame === 0) frame = requestAnimationFrame(flush);
  };

  const showNotice = (key: string, kind: "warning" | "error" | "info", text: string) => {
    if (notices.querySelector(`[data-key="${CSS.escape(key)}"]`) !== null) return;
    const dismiss = h("button", { class: "quiet", text: "Dismiss", attrs: { type: "button" } });
    const notice = h(
      "div",
      { class: `notice ${kind}`, attrs: { role: kind === "info" ? "status" : "alert" }, data: { key } },
      h("span", { text }),
      dismiss,
    );
    dismiss.addEventListener("click", () => notice.remove());
    notices.appendChild(notice);
  };

  const copyText = async (text: string, what: string) => {
    try {
      await navigator.clipboard.writeText(text);
      toolbarStatus.textContent = `${what} copied`;
    } catch {
      // No clipboard (plain http on another host, permission refused): let the user copy it by hand.
      window.prompt(`Copy the ${what.toLowerCase()}:`, text);
    }
  };

  const flows = createFlowView(api, {
    onFilter: (field, value) => {
      const known = PAGE_QUERY_FIELDS.find((f) => f === field);
      if (known !== undefined)
        applyQuery({ token: query.token, values: { ...query.values, [known]: value } });
    },
    describeWebhook: (hookId, into) => void describeWebhook(api, hookId, into),
  });
  const view = createLogView({
    viewport,
    canvas,
    list,
    rowHeight: ROW_HEIGHT,
    overscan: OVERSCAN,
    buildRow,
    onStickChange: (stuck) => {
      jump.hidden = stuck;
    },
    onNearTop: () => {
      if (!pager.state.loading) void pager.loadOlder();
    },
    onFilter: (field, value) => {
      const known = PAGE_QUERY_FIELDS.find((f) => f === field);
      if (known === undefined) return;
      applyQuery({ token: query.token, values: { ...query.values, [known]: value } });
      inputs.get(known)?.focus();
    },
    onFlow: (kind, value) => (kind === "hook" ? flows.openHook(value) : flows.openPr(value)),
    onCopyEntry: (item: ListedEntry) => void copyText(JSON.stringify(item.entry, null, 2), "Entry"),
    requestRender: scheduleRender,
  });

  const updateCounts = () => {
    const parts = [`${list.length.toLocaleString("en")} entries`];
    if (list.droppedOldest > 0)
      parts.push(
        `${list.droppedOldest.toLocaleString("en")} older dropped from view (keeping the newest ${MAX_ENTRIES.toLocaleString("en")})`,
      );
    if (paused) parts.push(`${pauseBuffer.length.toLocaleString("en")} new while paused`);
    counts.textContent = parts.join(" · ");
    empty.hidden = list.length > 0;
  };

  const updateConnection = () => {
    const shown = paused && connectionState.kind !== "failed" ? "paused" : connectionState.kind;
    connection.dataset.state = shown;
    connectionLabel.textContent =
      shown === "paused"
        ? `Paused: ${pauseBuffer.length.toLocaleString("en")} new entries buffered`
        : connectionText(connectionState);
    viewport.setAttribute("aria-busy", String(connectionState.kind === "connecting"));
    if (connectionState.kind === "failed") empty.textContent = `Not streaming: ${connectionState.message}`;
  };

  const updateHistory = (state: HistoryState) => {
    // Not disabled while loading: a disabled button would drop the keyboard focus; repeat presses are ignored.
    olderButton.disabled = state.exhausted || state.unavailable !== null;
    olderButton.setAttribute("aria-busy", String(state.loading));
    olderButton.textContent = state.loading
      ? "Loading…"
      : state.exhausted
        ? "No older entries"
        : "Load older";
    olderButton.title = state.unavailable ?? "";
    const parts: string[] = [];
    if (state.unavailable !== null) parts.push(state.unavailable);
    if (state.error !== null) parts.push(state.error);
    if (!state.loading && state.lastTookMs !== null)
      parts.push(
        `${state.lastAdded.toLocaleString("en")} older entries loaded in ${state.lastTookMs} ms${state.partial ? " (search incomplete)" : ""}`,
      );
    toolbarStatus.textContent = parts.join(" · ");
    updateCounts();
  };

  const pager = createHistoryPager({
    api,
    list,
    query,
    backfillDone: () => backfill,
    keepAnchor: (change) => view.keepAnchor(change),
    onChange: (state) => {
      updateHistory(state);
      scheduleRender();
    },
  });

  /** Moves the entries received since the last frame into the list (which bounds and counts them). */
  const ingest = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    view.keepAnchor(() => list.append(batch));
  };

  function flush() {
    frame = 0;
    ingest();
    view.render();
    updateCounts();
    if (paused) updateConnection();
  }

  const stream = createLogStream({
    origin: location,
    query,
    events: {
      entry(entry) {
        if (!matcher(entry)) return;
        if (paused) {
          pauseBuffer.push(entry);
          if (pauseBuffer.length >= PAUSE_BUFFER_MAX) stream.suspend();
          scheduleRender();
          return;
        }
        pending.push(entry);
        // A hidden tab gets no animation frames: the list takes the entries without a render meanwhile.
        if (pending.length >= MAX_PENDING) ingest();
        scheduleRender();
      },
      gap(notice) {
        showNotice(
          `gap-${notice.resumed_from}`,
          "warning",
          `Some entries were missed: the server no longer holds entries before ${notice.resumed_from} (asked to resume after ${notice.requested}). ${notice.message}`,
        );
      },
      serverError(message) {
        showNotice(`server-${message}`, "error", `Server: ${message}`);
      },
      state(state) {
        connectionState = state;
        if (state.kind === "live" || state.kind === "failed") backfillResolve();
        updateConnection();
      },
      unauthorized: goToLogin,
    },
  });

  const fillForm = () => {
    for (const [field, input] of inputs)
      input.value = TIME_FIELDS.has(field) ? toLocalInput(query.values[field]) : query.values[field];
  };

  const readForm = (): PageQuery => {
    const next = emptyQuery();
    next.token = query.token;
    for (const [field, input] of inputs) {
      const value = input.value.trim();
      // A time the user did not touch keeps its URL form, so it does not count as a change.
      next.values[field] = TIME_FIELDS.has(field)
        ? value === toLocalInput(query.values[field])
          ? query.values[field]
          : fromLocalInput(value)
        : field === "level"
          ? value.toUpperCase()
          : value;
    }
    return next;
  };

  const updateLinks = () => {
    exportNdjson.href = exportUrl(query, "ndjson");
    exportJson.href = exportUrl(query, "json");
  };

  function applyQuery(next: PageQuery) {
    if (sameValues(next, query)) return;
    query = next;
    matcher = createEntryMatcher(query);
    window.history.replaceState(null, "", `${pageUrl(location.pathname, query)}${location.hash}`);
    fillForm();
    updateLinks();
    pending = [];
    pauseBuffer = [];
    list.clear();
    view.reset();
    notices.replaceChildren();
    empty.textContent = isHistoryMode(query) ? "No matching entries yet…" : "Waiting for log entries…";
    resetBackfill();
    stream.reconfigure(query);
    pager.reset(query);
    if (isHistoryMode(query)) void pager.loadOlder();
    updateCounts();
  }

  // Filters apply on Enter, on leaving a changed field, on a select change, and after a pause in typing.
  let typingTimer = 0;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    window.clearTimeout(typingTimer);
    applyQuery(readForm());
  });
  form.addEventListener("change", () => {
    window.clearTimeout(typingTimer);
    applyQuery(readForm());
  });
  form.addEventListener("input", (event) => {
    if (
      event.target instanceof HTMLInputElement &&
      event.target.type !== "text" &&
      event.target.type !== "search"
    )
      return;
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(() => applyQuery(readForm()), TYPING_DEBOUNCE_MS);
  });
  byId("clear-filters", HTMLButtonElement).addEventListener("click", () => {
    const next = emptyQuery();
    next.token = query.token;
    applyQuery(next);
  });

  pauseButton.addEventListener("click", () => {
    paused = !paused;
    // The label says what a press does; no aria-pressed, whose label would have to stay the same.
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.classList.toggle("active", paused);
    if (!paused) {
      pending.push(...pauseBuffer);
      pauseBuffer = [];
      if (connectionState.kind === "suspended") stream.resume();
      scheduleRender();
    }
    updateConnection();
    updateCounts();
  });
  olderButton.addEventListener("click", () => void pager.loadOlder());
  jump.addEventListener("click", () => {
    view.jumpToNewest();
    viewport.focus();
  });
  byId("copy-link", HTMLButtonElement).addEventListener(
    "click",
    () => void copyText(shareUrl(`${location.origin}${location.pathname}`, query), "Link"),
  );
  // Back online: skip the rest of the backoff wait.
  window.addEventListener("online", () => {
    if (connectionState.kind === "reconnecting") stream.resume();
  });
  window.addEventListener("resize", scheduleRender);

  setUpThemeToggle(byId("theme-toggle", HTMLButtonElement));
  const tabs = setUpTabs(
    createWebhooksView(api, {
      // A relayed GitHub delivery → the log of its processing, and its flow.
      onHook: (hookId) => {
        tabs.showLogs();
        applyQuery({ token: query.token, values: { ...query.values, hook_id: hookId } });
        flows.openHook(hookId);
      },
    }),
  );

  fillForm();
  updateLinks();
  updateCounts();
  updateHistory(pager.state);
  resetBackfill();
  stream.start();
  if (isHistoryMode(query)) void pager.loadOlder();
  scheduleRender();
}

function setUpTabs(webhooks: { show(): void; hide(): void }): { showLogs(): void } {
  const tabs = [byId("tab-logs", HTMLButtonElement), byId("tab-webhooks", HTMLButtonElement)];
  const select = (tab: HTMLButtonElement, focus: boolean) => {
    for (const other of tabs) {
      const chosen = other === tab;
      other.setAttribute("aria-selected", String(chosen));
      other.tabIndex = chosen ? 0 : -1;
      const panel = document.getElementById(other.getAttribute("aria-controls") ?? "");
      if (panel !== null) panel.hidden = !chosen;
    }
    if (focus) tab.focus();
    const onWebhooks = tab.id === "tab-webhooks";
    if (onWebhooks) webhooks.show();
    else webhooks.hide();
    window.history.replaceState(
      null,
      "",
      `${location.pathname}${location.search}${onWebhooks ? "#webhooks" : ""}`,
    );
  };
  for (const [index, tab] of tabs.entries()) {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (event) => {
      const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (step === 0) return;
      event.preventDefault();
      select(tabs[(index + step + tabs.length) % tabs.length] as HTMLButtonElement, true);
    });
  }
  if (location.hash === "#webhooks") select(tabs[1] as HTMLButtonElement, false);
  return { showLogs: () => select(tabs[0] as HTMLButtonElement, false) };
}

start();
