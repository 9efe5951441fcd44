/**
 * The windowed list: however many entries are held, the DOM holds only the rows in view plus `overscan`
 * on each side (and the focused row). Rows have one fixed height; an expanded row is measured and the
 * difference is added to the offsets below it. The page calls `render()` at most once per animation frame.
 */
import type { EntryList, ListedEntry } from "./entry-list.ts";
import { createRowGeometry, nextRow, type RowGeometry } from "./log-geometry.ts";
import { createRowPool, type RowPool } from "./log-rows.ts";
import { createScrollState, type ScrollState } from "./log-scroll.ts";
import type { BuiltRow } from "./row.ts";

export interface LogViewOptions {
  /** The scrolling element. */
  viewport: HTMLElement;
  /** Child of the viewport sized to the whole list; rows are positioned inside it. */
  canvas: HTMLElement;
  list: EntryList;
  rowHeight: number;
  overscan: number;
  buildRow(item: ListedEntry, expanded: boolean): BuiltRow;
  /** Auto-scroll follows the newest entry (true) or the user scrolled away (false). */
  onStickChange(stuck: boolean): void;
  /** The user scrolled up to near the oldest entry. */
  onNearTop(): void;
  onFilter(field: string, value: string): void;
  /** A hook id (its timeline) or a PR (its hooks) was chosen. */
  onFlow(kind: "hook" | "pr", value: string): void;
  onCopyEntry(item: ListedEntry): void;
  /** Something needs another frame (a measured height changed). */
  requestRender(): void;
}

export interface LogView {
  render(): void;
  /** Runs `change` (entries prepended or dropped) keeping the rows in view where they are on screen. */
  keepAnchor(change: () => void): void;
  toggle(id: number): void;
  jumpToNewest(): void;
  reset(): void;
  readonly stuck: boolean;
}

/** What a click on a row asks for: a filter, a flow, a copy, a fold; null for a click that only reads. */
function handleRowClick(
  target: Element,
  list: EntryList,
  options: LogViewOptions,
  toggle: (id: number) => void,
) {
  const row = target.closest<HTMLElement>("article.row");
  if (row === null) return;
  const id = Number(row.dataset.id);
  const filter = target.closest<HTMLElement>("[data-filter-field]");
  if (filter !== null) {
    options.onFilter(filter.dataset.filterField ?? "", filter.dataset.filterValue ?? "");
    return;
  }
  const flow = target.closest<HTMLElement>("[data-flow-kind]");
  if (flow !== null) {
    options.onFlow(flow.dataset.flowKind === "pr" ? "pr" : "hook", flow.dataset.flowValue ?? "");
    return;
  }
  if (target.closest("[data-copy-entry]") !== null) {
    const index = list.indexOfId(id);
    if (index !== -1) options.onCopyEntry(list.items[index] as ListedEntry);
    return;
  }
  // Clicks inside the detail (selecting text, reading) do not fold it; the toggle and the line do.
  if (target.closest(".detail") !== null) return;
  if (target.closest(".toggle") === null && (window.getSelection()?.toString() ?? "") !== "") return;
  toggle(id);
}

interface KeyboardDeps {
  viewport: HTMLElement;
  list: EntryList;
  geometry: RowGeometry;
  rowHeight: number;
  toggle(id: number): void;
  focusIndex(index: number): void;
}

/** Arrows, Page Up/Down, Home and End move between rows; Enter and Space fold or unfold the focused one. */
function handleListKey(event: KeyboardEvent, deps: KeyboardDeps): void {
  const { viewport, list } = deps;
  if (!(event.target instanceof HTMLElement)) return;
  const row = event.target.closest<HTMLElement>("article.row");
  const onRow = row !== null && event.target === row;
  if (event.key === "Enter" || event.key === " ") {
    if (onRow) {
      event.preventDefault();
      deps.toggle(Number(row.dataset.id));
    }
    return;
  }
  const next = nextRow(event.key, {
    current: onRow ? list.indexOfId(Number(row.dataset.id)) : -1,
    firstVisible: deps.geometry.indexAt(viewport.scrollTop + 1),
    last: list.length - 1,
    page: () => Math.max(1, Math.floor(viewport.clientHeight / deps.rowHeight) - 1),
  });
  if (next === null) return;
  if (!onRow && event.target !== viewport) return;
  event.preventDefault();
  deps.focusIndex(next);
}

/** What the view's movements work with. */
interface ViewParts {
  viewport: HTMLElement;
  list: EntryList;
  geometry: RowGeometry;
  rows: RowPool;
  scroll: ScrollState;
  render(): void;
  setCanvasHeight(): void;
}

/** Moves focus to the row at `index`, scrolling only as far as needed to show it. */
function focusRow({ viewport, list, geometry, rows, scroll, render }: ViewParts, index: number): void {
  if (list.length === 0) return;
  const target = Math.max(0, Math.min(list.length - 1, index));
  geometry.layout();
  const top = geometry.offsetOf(target);
  const rowBottom = top + geometry.heightAt(target);
  const height = viewport.clientHeight;
  if (top < viewport.scrollTop) scroll.setTop(top);
  else if (rowBottom > viewport.scrollTop + height) scroll.setTop(rowBottom - height);
  scroll.setStuck(viewport.scrollTop + height >= geometry.total - 2);
  render();
  rows.element((list.items[target] as ListedEntry).id)?.focus({ preventScroll: true });
}

/** Runs `change` (entries prepended or dropped) keeping the rows in view where they are on screen. */
function keepAnchor(
  { viewport, list, geometry, scroll, setCanvasHeight }: ViewParts,
  change: () => void,
): void {
  if (scroll.stuck || list.length === 0) {
    change();
    return;
  }
  geometry.layout();
  const top = viewport.scrollTop;
  const index = geometry.indexAt(top);
  const anchor = list.items[index] as ListedEntry;
  const delta = geometry.offsetOf(index) - top;
  change();
  geometry.layout();
  setCanvasHeight();
  const moved = list.indexOfId(anchor.id);
  scroll.setTop(moved === -1 ? 0 : Math.max(0, geometry.offsetOf(moved) - delta));
}

/** A row just opened: scroll as far as needed to show its detail, never past its own top line. */
function revealOpened({ list, geometry, scroll }: ViewParts, viewportHeight: number, id: number): void {
  const index = list.indexOfId(id);
  if (index === -1) return;
  const rowTop = geometry.offsetOf(index);
  const rowBottom = rowTop + geometry.heightAt(index);
  if (rowBottom > scroll.lastTop + viewportHeight)
    scroll.setTop(Math.min(rowTop, rowBottom - viewportHeight));
}

export function createLogView(options: LogViewOptions): LogView {
  const { viewport, canvas, list, rowHeight: H, overscan } = options;
  const geometry = createRowGeometry(list, H);
  const rows = createRowPool({ canvas, list, geometry, buildRow: options.buildRow });
  const scroll = createScrollState({ ...options, rowHeight: H });
  let viewportHeight = viewport.clientHeight;
  let canvasHeight = -1;
  /** A row just expanded, to be scrolled into view once measured. */
  let reveal: number | null = null;
  new ResizeObserver(() => {
    viewportHeight = viewport.clientHeight;
    rows.remeasureShown();
    options.requestRender();
  }).observe(viewport);

  const setCanvasHeight = () => {
    canvas.style.height = `${geometry.total}px`;
    canvasHeight = geometry.total;
  };

  /**
   * Writes only, then at most one forced layout (setting scrollTop when following the newest entry): the
   * viewport's height and scroll position are known without asking the browser.
   */
  const render = () => {
    geometry.layout();
    const height = viewportHeight;
    const bottom = Math.max(0, geometry.total - height);
    const top = scroll.stuck ? bottom : Math.min(scroll.lastTop, bottom);
    rows.show(...geometry.window(top, height, overscan));
    if (canvasHeight !== geometry.total) setCanvasHeight();
    if (scroll.stuck && Math.abs(scroll.lastTop - top) >= 1) scroll.setTop(top);
    // Expanded rows built this frame are measured (one layout); their offsets below follow next frame.
    const remeasure = rows.measure();
    if (remeasure) options.requestRender();
    if (reveal !== null && !remeasure) {
      const id = reveal;
      reveal = null;
      revealOpened(parts, viewportHeight, id);
    }
  };

  const toggle = (id: number) => {
    if (geometry.expanded.has(id)) geometry.collapse(id);
    else {
      geometry.expanded.add(id);
      reveal = id;
      // Reading an entry: new ones must not scroll it away (the jump button brings the newest back).
      scroll.setStuck(false);
    }
    rows.rebuild(id);
    render();
  };

  const parts: ViewParts = { viewport, list, geometry, rows, scroll, render, setCanvasHeight };
  const focusIndex = (index: number) => focusRow(parts, index);

  viewport.addEventListener("scroll", () => {
    scroll.scrolled(viewportHeight, canvasHeight);
    options.requestRender();
  });
  viewport.addEventListener("keydown", (event) =>
    handleListKey(event, { viewport, list, geometry, rowHeight: H, toggle, focusIndex }),
  );
  canvas.addEventListener("click", (event) => {
    if (event.target instanceof Element) handleRowClick(event.target, list, options, toggle);
  });

  return {
    render,
    keepAnchor: (change) => keepAnchor(parts, change),
    toggle,
    jumpToNewest() {
      scroll.setStuck(true);
      render();
    },
    reset() {
      rows.clear();
      scroll.forgetTop();
      geometry.clear();
      scroll.setStuck(true);
      render();
    },
    get stuck() {
      return scroll.stuck;
    },
  };
}
