/**
 * The rows of the windowed list that are in the DOM: built on first use, moved by transform, given their
 * place in the set for screen readers, and removed when they leave the window. Expanded rows built here are
 * measured after the frame's writes.
 */
import type { EntryList, ListedEntry } from "./entry-list.ts";
import type { RowGeometry } from "./log-geometry.ts";

interface Rendered {
  element: HTMLElement;
  top: number;
  position: number;
  size: number;
}

export interface RowPool {
  /** Shows rows `first`..`last` and the focused row, wherever it is, and removes every other row. */
  show(first: number, last: number): void;
  /** Builds a row again (it was expanded or folded), keeping its focus. */
  rebuild(id: number): void;
  element(id: number): HTMLElement | undefined;
  /** Expanded rows in the DOM are to be measured again (a new width can rewrap them). */
  remeasureShown(): void;
  /** Measures the expanded rows built since the last call; true when a height changed. */
  measure(): boolean;
  clear(): void;
}

export interface RowPoolOptions {
  canvas: HTMLElement;
  list: EntryList;
  geometry: RowGeometry;
  buildRow(item: ListedEntry, expanded: boolean): HTMLElement;
}

export function createRowPool({ canvas, list, geometry, buildRow }: RowPoolOptions): RowPool {
  const rendered = new Map<number, Rendered>();
  /** Expanded rows whose height is to be measured after this render. */
  const unmeasured = new Set<number>();

  const focusedId = (): number | null => {
    const active = document.activeElement;
    if (!(active instanceof HTMLElement) || !canvas.contains(active)) return null;
    const row = active.closest<HTMLElement>("article.row");
    return row === null ? null : Number(row.dataset.id);
  };

  const place = (item: ListedEntry, index: number, size: number) => {
    let row = rendered.get(item.id);
    if (row === undefined) {
      const element = buildRow(item, geometry.expanded.has(item.id));
      if (geometry.expanded.has(item.id)) unmeasured.add(item.id);
      row = { element, top: -1, position: -1, size: -1 };
      rendered.set(item.id, row);
      canvas.appendChild(element);
    }
    const top = geometry.offsetOf(index);
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

  return {
    show(first, last) {
      const n = list.length;
      const keep = new Set<number>();
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
      for (const [id, row] of rendered) {
        if (keep.has(id)) continue;
        row.element.remove();
        rendered.delete(id);
      }
    },
    rebuild(id) {
      const row = rendered.get(id);
      if (row === undefined) return;
      const hadFocus = row.element.contains(document.activeElement);
      row.element.remove();
      rendered.delete(id);
      const index = list.indexOfId(id);
      if (index === -1) return;
      place(list.items[index] as ListedEntry, index, list.length);
      if (hadFocus) rendered.get(id)?.element.focus({ preventScroll: true });
    },
    element: (id) => rendered.get(id)?.element,
    remeasureShown() {
      for (const id of geometry.expanded) if (rendered.has(id)) unmeasured.add(id);
    },
    measure() {
      let changed = false;
      for (const id of unmeasured) {
        const row = rendered.get(id);
        if (row === undefined || !geometry.expanded.has(id)) continue;
        const measured = row.element.offsetHeight;
        if (measured !== geometry.heights.get(id)) {
          geometry.heights.set(id, measured);
          changed = true;
        }
      }
      unmeasured.clear();
      return changed;
    },
    clear() {
      for (const row of rendered.values()) row.element.remove();
      rendered.clear();
    },
  };
}
