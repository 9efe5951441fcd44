/**
 * The log list on the page: the windowed view of the entry list, the batch that feeds it once per frame, and
 * "Jump to newest", shown while the user has scrolled away from the newest entry.
 */
import { byId } from "./dom.ts";
import type { EntryList, ListedEntry } from "./entry-list.ts";
import { createLogView, type LogView } from "./log-view.ts";
import { PAGE_QUERY_FIELDS, type PageQueryField } from "./query.ts";
import { createRenderBatch, type RenderBatch } from "./render-batch.ts";
import { buildRow } from "./row.ts";

/** Must match `--row-height` in logs.css. */
const ROW_HEIGHT = 28;
/** Rows rendered above and below the visible ones, so fast scrolling does not show blank space. */
const OVERSCAN = 8;

/** A field name from a row or a flow, if the page can filter on it. */
export const pageField = (field: string): PageQueryField | undefined =>
  PAGE_QUERY_FIELDS.find((f) => f === field);

export interface ListViewOptions {
  list: EntryList;
  /** The user scrolled up to near the oldest entry. */
  onNearTop(): void;
  /** A field's value in a row was chosen as a filter. */
  onFilter(field: PageQueryField, value: string): void;
  onFlow(kind: "hook" | "pr", value: string): void;
  onCopyEntry(item: ListedEntry): void;
  /** After each frame's render. */
  rendered(): void;
}

export function createListView(options: ListViewOptions): { view: LogView; batch: RenderBatch } {
  const viewport = byId("log-viewport", HTMLElement);
  const jump = byId("jump", HTMLButtonElement);
  const view = createLogView({
    viewport,
    canvas: byId("log-canvas", HTMLElement),
    list: options.list,
    rowHeight: ROW_HEIGHT,
    overscan: OVERSCAN,
    buildRow,
    onStickChange: (stuck) => {
      jump.hidden = stuck;
    },
    onNearTop: options.onNearTop,
    onFilter: (field, value) => {
      const known = pageField(field);
      if (known !== undefined) options.onFilter(known, value);
    },
    onFlow: options.onFlow,
    onCopyEntry: options.onCopyEntry,
    requestRender: () => batch.schedule(),
  });
  const batch = createRenderBatch({ list: options.list, view, rendered: options.rendered });
  jump.addEventListener("click", () => {
    view.jumpToNewest();
    viewport.focus();
  });
  window.addEventListener("resize", () => batch.schedule());
  return { view, batch };
}
