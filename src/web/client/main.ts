/**
 * The log page, wired: the filters (URL and form), the stream with its backfill and reconnects, history, the
 * pause buffer, the list rendered once per frame, the notices, the flows and the tabs. Each is its own
 * module; this one holds the page's query and connects them.
 */
import type { LogEntry } from "../../logs/entry.ts";
import { createApi, loginUrl } from "./api.ts";
import { type BackfillGate, createBackfillGate } from "./backfill-gate.ts";
import { byId } from "./dom.ts";
import { createEntryList, type EntryList } from "./entry-list.ts";
import { createFilterForm, type FilterForm } from "./filter-form.ts";
import { createFlowView, type FlowView } from "./flow.ts";
import { createHistoryPager, type HistoryPager } from "./history.ts";
import { describeWebhook } from "./hook-webhook.ts";
import { createListView, pageField } from "./list-view.ts";
import type { LogView } from "./log-view.ts";
import { gapNotice, serverErrorNotice } from "./notice-text.ts";
import { createNotices, type Notices } from "./notices.ts";
import { createPauseBuffer, type PauseBuffer } from "./pause-buffer.ts";
import {
  createEntryMatcher,
  isHistoryMode,
  type PageQuery,
  type PageQueryField,
  pageUrl,
  parsePageQuery,
  sameValues,
  shareUrl,
} from "./query.ts";
import type { RenderBatch } from "./render-batch.ts";
import { type ConnectionState, createLogStream, type LogStream } from "./stream.ts";
import { setUpTabs } from "./tabs.ts";
import { setUpThemeToggle } from "./theme.ts";
import { setUpToolbar, type Toolbar } from "./toolbar.ts";
import { createWebhooksView } from "./webhooks.ts";

/** Entries held for the view; past it the oldest are dropped (and the page says so). */
const MAX_ENTRIES = 100_000;
/** History waits this long for the stream's backfill before loading anyway. */
const BACKFILL_WAIT_MS = 3_000;

/** The page's state and its parts, once wired. */
interface Page {
  query: PageQuery;
  matcher: (entry: LogEntry) => boolean;
  connection: ConnectionState;
  list: EntryList;
  pause: PauseBuffer;
  notices: Notices;
  backfill: BackfillGate;
  form: FilterForm;
  view: LogView;
  batch: RenderBatch;
  pager: HistoryPager;
  stream: LogStream;
  toolbar: Toolbar;
}

function showCounts(page: Page): void {
  page.notices.counts({
    entries: page.list.length,
    droppedOldest: page.list.droppedOldest,
    maxEntries: MAX_ENTRIES,
    held: page.pause.paused ? page.pause.held : null,
  });
}

const showConnection = (page: Page) =>
  page.notices.connection(page.connection, page.pause.paused, page.pause.held);

/** A matching entry from the stream goes to the list, or to the pause buffer while paused. */
function receive(page: Page, entry: LogEntry): void {
  if (!page.matcher(entry)) return;
  const arrival = page.pause.offer(entry);
  if (arrival === "show") {
    page.batch.add(entry);
    return;
  }
  if (arrival === "full") page.stream.suspend();
  page.batch.schedule();
}

function togglePause(page: Page): boolean {
  const released = page.pause.toggle();
  if (!page.pause.paused) {
    page.batch.release(released);
    if (page.connection.kind === "suspended") page.stream.resume();
  }
  showConnection(page);
  showCounts(page);
  return page.pause.paused;
}

/** New filters: everything shown so far goes, the stream and history start over for the new query. */
function applyQuery(page: Page, query: PageQuery): void {
  if (sameValues(query, page.query)) return;
  page.query = query;
  page.matcher = createEntryMatcher(query);
  window.history.replaceState(null, "", `${pageUrl(location.pathname, query)}${location.hash}`);
  page.form.fill(query);
  page.toolbar.follow(query);
  page.batch.clear();
  page.pause.clear();
  page.list.clear();
  page.view.reset();
  page.notices.restart(isHistoryMode(query));
  page.backfill.reset();
  page.stream.reconfigure(query);
  page.pager.reset(query);
  if (isHistoryMode(query)) void page.pager.loadOlder();
  showCounts(page);
}

/** A value chosen in a row, a flow or a delivery as a filter, added to the page's filters. */
function filterOn(page: Page, field: PageQueryField, value: string): void {
  applyQuery(page, { token: page.query.token, values: { ...page.query.values, [field]: value } });
}

async function copyText(text: string, what: string, say: (text: string) => void): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    say(`${what} copied`);
  } catch {
    // No clipboard (plain http on another host, permission refused): let the user copy it by hand.
    window.prompt(`Copy the ${what.toLowerCase()}:`, text);
  }
}

/** The parts the page's callbacks reach for; `page` is read when they run, once it is wired. */
interface Wiring {
  page: () => Page;
  notices: Notices;
  goToLogin: () => void;
}

/** The list of entries, whose rows filter on a value, open a flow or copy their entry. */
function createPageList(wiring: Wiring, list: EntryList, form: FilterForm, flows: FlowView) {
  const { page, notices } = wiring;
  return createListView({
    list,
    onNearTop: () => {
      if (!page().pager.state.loading) void page().pager.loadOlder();
    },
    onFilter: (field, value) => {
      filterOn(page(), field, value);
      form.focus(field);
    },
    onFlow: (kind, value) => (kind === "hook" ? flows.openHook(value) : flows.openPr(value)),
    onCopyEntry: (item) => void copyText(JSON.stringify(item.entry, null, 2), "Entry", notices.say),
    rendered: () => {
      showCounts(page());
      if (page().pause.paused) showConnection(page());
    },
  });
}

/** The stream, its entries going to the page and its gaps, errors and states to the notices. */
function createPageStream(wiring: Wiring, query: PageQuery, backfill: BackfillGate): LogStream {
  const { page, notices } = wiring;
  return createLogStream({
    origin: location,
    query,
    events: {
      entry: (entry) => receive(page(), entry),
      gap: (notice) => notices.show(gapNotice(notice)),
      serverError: (message) => notices.show(serverErrorNotice(message)),
      state(state) {
        page().connection = state;
        if (state.kind === "live" || state.kind === "failed") backfill.open();
        showConnection(page());
      },
      unauthorized: wiring.goToLogin,
    },
  });
}

function start(): void {
  const query = parsePageQuery(new URLSearchParams(location.search));
  let sentToLogin = false;
  const goToLogin = () => {
    if (sentToLogin) return;
    sentToLogin = true;
    location.assign(loginUrl(shareUrl(location.pathname, page.query)));
  };
  const api = createApi(query.token, goToLogin);
  const list = createEntryList(MAX_ENTRIES);
  const notices = createNotices();
  const backfill = createBackfillGate(BACKFILL_WAIT_MS);
  const wiring: Wiring = { page: () => page, notices, goToLogin };

  const form = createFilterForm(
    () => page.query,
    (next) => applyQuery(page, next),
  );
  const flows = createFlowView(api, {
    onFilter: (field, value) => {
      const known = pageField(field);
      if (known !== undefined) filterOn(page, known, value);
    },
    describeWebhook: (hookId, into) => void describeWebhook(api, hookId, into),
  });
  const { view, batch } = createPageList(wiring, list, form, flows);
  const pager = createHistoryPager({
    api,
    list,
    query,
    backfillDone: backfill.passed,
    keepAnchor: (change) => view.keepAnchor(change),
    onChange: (state) => {
      notices.history(state);
      showCounts(page);
      batch.schedule();
    },
  });
  const stream = createPageStream(wiring, query, backfill);
  const toolbar = setUpToolbar({
    togglePause: () => togglePause(page),
    loadOlder: () => void pager.loadOlder(),
    copyLink: () =>
      void copyText(shareUrl(`${location.origin}${location.pathname}`, page.query), "Link", notices.say),
  });
  const page: Page = {
    query,
    matcher: createEntryMatcher(query),
    connection: { kind: "connecting" },
    list,
    pause: createPauseBuffer(),
    notices,
    backfill,
    form,
    view,
    batch,
    pager,
    stream,
    toolbar,
  };

  setUpThemeToggle(byId("theme-toggle", HTMLButtonElement));
  const tabs = setUpTabs(
    createWebhooksView(api, {
      // A relayed GitHub delivery → the log of its processing, and its flow.
      onHook: (hookId) => {
        tabs.showLogs();
        filterOn(page, "hook_id", hookId);
        flows.openHook(hookId);
      },
    }),
  );
  begin(page);
}

/** Shows the starting state, connects the stream and, for a time range, loads history. */
function begin(page: Page): void {
  // Back online: skip the rest of the backoff wait.
  window.addEventListener("online", () => {
    if (page.connection.kind === "reconnecting") page.stream.resume();
  });
  page.form.fill(page.query);
  page.toolbar.follow(page.query);
  showCounts(page);
  page.notices.history(page.pager.state);
  showCounts(page);
  page.backfill.reset();
  page.stream.start();
  if (isHistoryMode(page.query)) void page.pager.loadOlder();
  page.batch.schedule();
}

start();
