/**
 * The windowed list: however many entries are held, the DOM holds only the rows in view plus `overscan`
 * on each side (and the focused row). Rows have one fixed height; an expanded row is measured and the
 * difference is added to the offsets below it. The page calls `render()` at most once per animation frame.
 */
import type { EntryList, ListedEntry } from "./entry-list.ts";

export interface LogViewOptions {
  /** The scrolling element. */
  viewport: HTMLElement;
  /** Child of the viewport sized to the whole list; rows are positioned inside it. */
  canvas: HTMLElement;
  list: EntryList;
  rowHeight: number;
  overscan: number;
  buildRow(item: ListedEntry, expanded: boolean): HTMLElement;
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

interface Rendered {
  element: HTMLElement;
  top: number;
  position: number;
  size: number;
}

interface Extra {
  index: number;
  extra: number;
}

export function createLogView(options: LogViewOptions): LogView {
  const { viewport, canvas, list, rowHeight: H, overscan } = options;
  const rendered = new Map<number, Rendered>();
  const expanded = new Set<number>();
  /** Measured heights of expanded rows. */
  const heights = new Map<number, number>();
  let extras: Extra[] = [];
  let total = 0;
  let stuck = true;
  /** The viewport's scrollTop as of the last scroll event or our own change of it. */
  let lastTop = 0;
  let viewportHeight = viewport.clientHeight;
  let canvasHeight = -1;
  /** A row just expanded, to be scrolled into view once measured. */
  let reveal: number | null = null;
  /** Expanded rows whose height is to be measured after this render. */
  const unmeasured = new Set<number>();
  new ResizeObserver(() => {
    viewportHeight = viewport.clientHeight;
    // A new width can rewrap expanded rows.
    for (const id of expanded) if (rendered.has(id)) unmeasured.add(id);
    options.requestRender();
  }).observe(viewport);

  const layout = () => {
    extras = [];
    let sum = 0;
    for (const id of expanded) {
      const index = list.indexOfId(id);
      if (index === -1) {
        expanded.delete(id);
        heights.delete(id);
        continue;
      }
      const extra = Math.max(0, (heights.get(id) ?? H) - H);
      extras.push({ index, extra });
      sum += extra;
    }
    extras.sort((a, b) => a.index - b.index);
    total = list.length * H + sum;
  };

  const offsetOf = (index: number) => {
    let acc = 0;
    for (const e of extras) {
      if (e.index >= index) break;
      acc += e.extra;
    }
    return index * H + acc;
  };

  const indexAt = (y: number) => {
    let acc = 0;
    for (const e of extras) {
      const top = e.index * H + acc;
      if (y < top) break;
      if (y < top + H + e.extra) return e.index;
      acc += e.extra;
    }
    return Math.max(0, Math.min(list.length - 1, Math.floor((y - acc) / H)));
  };

  const setStuck = (value: boolean) => {
    if (value === stuck) return;
    stuck = value;
    options.onStickChange(value);
  };

  /** Where we last scrolled to ourselves: the scroll event that follows is not the user's. */
  let ownTop = -1;
  const setTop = (top: number) => {
    viewport.scrollTop = top;
    lastTop = viewport.scrollTop;
    ownTop = lastTop;
  };

  const focusedId = (): number | null => {
    const active = document.activeElement;
    if (!(active instanceof HTMLElement) || !canvas.contains(active)) return null;
    const row = active.closest<HTMLElement>("article.row");
    return row === null ? null : Number(row.dataset.id);
  };

  const place = (item: ListedEntry, index: number, size: number) => {
    let row = rendered.get(item.id);
    if (row === undefined) {
      const element = options.buildRow(item, expanded.has(item.id));
      if (expanded.has(item.id)) unmeasured.add(item.id);
      row = { element, top: -1, position: -1, size: -1 };
      rendered.set(item.id, row);
      canvas.appendChild(element);
    }
    const top = offsetOf(index);
    if (row.top !== top) {
      row.element.style.transform = `translateY(${top}px)`;
      row.top = top;
    }
    if (row.position !== index + 1) {
      row.element.setAttribute("aria-posinset", String(index + 1));
      row.position = index + 1;
    }
    if (row.size !== size) {
      row.element.setAttribute("aria-setsize", String(size));
      row.size = size;
    }
  };

  /**
   * Writes only, then at most one forced layout (setting scrollTop when following the newest entry): the
   * viewport's height and scroll position are known without asking the browser.
   */
  const render = () => {
    layout();
    const height = viewportHeight;
    const top = stuck ? Math.max(0, total - height) : Math.min(lastTop, Math.max(0, total - height));
    const n = list.length;
    const keep = new Set<number>();
    if (n > 0) {
      const first = Math.max(0, indexAt(top) - overscan);
      const last = Math.min(n - 1, indexAt(top + height) + overscan);
      for (let i = first; i <= last; i++) {
        const item = list.items[i] as ListedEntry;
        keep.add(item.id);
        place(item, i, n);
      }
      // The focused row stays in the DOM while it is held, wherever it is, so focus is never lost.
      const focused = focusedId();
      if (focused !== null && !keep.has(focused)) {
        const index = list.indexOfId(focused);
        if (index !== -1) {
          keep.add(focused);
          place(list.items[index] as ListedEntry, index, n);
        }
      }
    }
    for (const [id, row] of rendered) {
      if (keep.has(id)) continue;
      row.element.remove();
      rendered.delete(id);
    }
    if (canvasHeight !== total) {
      canvas.style.height = `${total}px`;
      canvasHeight = total;
    }
    if (stuck && Math.abs(lastTop - top) >= 1) setTop(top);
    // Expanded rows built this frame are measured (one layout); their offsets below follow next frame.
    let remeasure = false;
    for (const id of unmeasured) {
      const row = rendered.get(id);
      if (row === undefined || !expanded.has(id)) continue;
      const measured = row.element.offsetHeight;
      if (measured !== heights.get(id)) {
        heights.set(id, measured);
        remeasure = true;
      }
    }
    unmeasured.clear();
    if (remeasure) options.requestRender();
    if (reveal !== null && !remeasure) {
      // A row just opened: scroll as far as needed to show its detail, never past its own top line.
      const index = list.indexOfId(reveal);
      reveal = null;
      if (index !== -1) {
        const rowTop = offsetOf(index);
        const rowBottom = rowTop + (heights.get((list.items[index] as ListedEntry).id) ?? H);
        if (rowBottom > lastTop + viewportHeight) setTop(Math.min(rowTop, rowBottom - viewportHeight));
      }
    }
  };

  const rebuild = (id: number) => {
    const row = rendered.get(id);
    if (row === undefined) return;
    const hadFocus = row.element.contains(document.activeElement);
    row.element.remove();
    rendered.delete(id);
    const index = list.indexOfId(id);
    if (index === -1) return;
    place(list.items[index] as ListedEntry, index, list.length);
    if (hadFocus) rendered.get(id)?.element.focus({ preventScroll: true });
  };

  const toggle = (id: number) => {
    if (expanded.has(id)) {
      expanded.delete(id);
      heights.delete(id);
    } else {
      expanded.add(id);
      reveal = id;
      // Reading an entry: new ones must not scroll it away (the jump button brings the newest back).
      setStuck(false);
    }
    rebuild(id);
    render();
  };

  /** Moves focus to the row at `index`, scrolling only as far as needed to show it. */
  const focusIndex = (index: number) => {
    if (list.length === 0) return;
    const target = Math.max(0, Math.min(list.length - 1, index));
    layout();
    const top = offsetOf(target);
    const rowBottom = top + (heights.get((list.items[target] as ListedEntry).id) ?? H);
    const height = viewport.clientHeight;
    if (top < viewport.scrollTop) setTop(top);
    else if (rowBottom > viewport.scrollTop + height) setTop(rowBottom - height);
    setStuck(viewport.scrollTop + height >= total - 2);
    render();
    rendered.get((list.items[target] as ListedEntry).id)?.element.focus({ preventScroll: true });
  };

  const pageRows = () => Math.max(1, Math.floor(viewport.clientHeight / H) - 1);

  viewport.addEventListener("scroll", () => {
    const top = viewport.scrollTop;
    const own = Math.abs(top - ownTop) < 1;
    ownTop = -1;
    const atBottom = top + viewportHeight >= canvasHeight - 4;
    // Only the user's scrolling decides whether the view follows the newest entries.
    if (!own) setStuck(atBottom);
    if (!own && !atBottom && top < lastTop && top < H * 5) options.onNearTop();
    lastTop = top;
    options.requestRender();
  });

  viewport.addEventListener("keydown", (event) => {
    if (!(event.target instanceof HTMLElement)) return;
    const row = event.target.closest<HTMLElement>("article.row");
    const onRow = row !== null && event.target === row;
    const current = onRow ? list.indexOfId(Number(row.dataset.id)) : -1;
    const firstVisible = indexAt(viewport.scrollTop + 1);
    const from = current === -1 ? firstVisible - 1 : current;
    let next: number | null = null;
    switch (event.key) {
      case "ArrowDown":
        next = from + 1;
        break;
      case "ArrowUp":
        next = current === -1 ? firstVisible : from - 1;
        break;
      case "PageDown":
        next = from + pageRows();
        break;
      case "PageUp":
        next = Math.max(0, from - pageRows());
        break;
      case "Home":
        next = 0;
        break;
      case "End":
        next = list.length - 1;
        break;
      case "Enter":
      case " ":
        if (onRow) {
          event.preventDefault();
          toggle(Number(row.dataset.id));
        }
        return;
      default:
        return;
    }
    if (!onRow && event.target !== viewport) return;
    event.preventDefault();
    focusIndex(next);
  });

  canvas.addEventListener("click", (event) => {
    if (!(event.target instanceof Element)) return;
    const row = event.target.closest<HTMLElement>("article.row");
    if (row === null) return;
    const id = Number(row.dataset.id);
    const filter = event.target.closest<HTMLElement>("[data-filter-field]");
    if (filter !== null) {
      options.onFilter(filter.dataset.filterField ?? "", filter.dataset.filterValue ?? "");
      return;
    }
    const flow = event.target.closest<HTMLElement>("[data-flow-kind]");
    if (flow !== null) {
      options.onFlow(flow.dataset.flowKind === "pr" ? "pr" : "hook", flow.dataset.flowValue ?? "");
      return;
    }
    if (event.target.closest("[data-copy-entry]") !== null) {
      const index = list.indexOfId(id);
      if (index !== -1) options.onCopyEntry(list.items[index] as ListedEntry);
      return;
    }
    // Clicks inside the detail (selecting text, reading) do not fold it; the toggle and the line do.
    if (event.target.closest(".detail") !== null) return;
    if (event.target.closest(".toggle") === null && (window.getSelection()?.toString() ?? "") !== "") return;
    toggle(id);
  });

  return {
    render,
    keepAnchor(change) {
      if (stuck || list.length === 0) {
        change();
        return;
      }
      layout();
      const top = viewport.scrollTop;
      const index = indexAt(top);
      const anchor = list.items[index] as ListedEntry;
      const delta = offsetOf(index) - top;
      change();
      layout();
      canvas.style.height = `${total}px`;
      canvasHeight = total;
      const moved = list.indexOfId(anchor.id);
      setTop(moved === -1 ? 0 : Math.max(0, offsetOf(moved) - delta));
    },
    toggle,
    jumpToNewest() {
      setStuck(true);
      render();
    },
    reset() {
      for (const row of rendered.values()) row.element.remove();
      rendered.clear();
      lastTop = 0;
      expanded.clear();
      heights.clear();
      setStuck(true);
      render();
    },
    get stuck() {
      return stuck;
    },
  };
}
