/**
 * The filter form: shows the page query in its inputs and reads the inputs back into a query. Filters apply
 * on Enter, on leaving a changed field, on a select change, and after a pause in typing; Clear empties them.
 */
import { byId } from "./dom.ts";
import { emptyQuery, PAGE_QUERY_FIELDS, type PageQuery, type PageQueryField } from "./query.ts";

/** Typing in a filter applies it after this pause. */
const TYPING_DEBOUNCE_MS = 500;

const TIME_FIELDS = new Set<PageQueryField>(["start_time", "end_time"]);

/** ISO timestamp → the local `YYYY-MM-DDTHH:MM:SS` a datetime-local input shows; "" for none or a bad one. */
export function toLocalInput(iso: string): string {
  const date = new Date(iso);
  if (iso === "" || Number.isNaN(date.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function fromLocalInput(value: string): string {
  if (value === "") return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

/** What an input shows for a field's value in the query. */
export function inputValue(field: PageQueryField, value: string): string {
  return TIME_FIELDS.has(field) ? toLocalInput(value) : value;
}

/**
 * A field's value in the query from what its input holds, given the query's value now: a time the user did
 * not touch keeps its URL form, so it does not count as a change.
 */
export function fieldValue(field: PageQueryField, input: string, current: string): string {
  const value = input.trim();
  if (TIME_FIELDS.has(field)) return value === toLocalInput(current) ? current : fromLocalInput(value);
  return field === "level" ? value.toUpperCase() : value;
}

export interface FilterForm {
  /** Shows `query` in the inputs. */
  fill(query: PageQuery): void;
  focus(field: PageQueryField): void;
}

/** `current` is the page's query now; `apply` gets the query the form asks for (it may be the same). */
export function createFilterForm(current: () => PageQuery, apply: (next: PageQuery) => void): FilterForm {
  const form = byId("filters", HTMLFormElement);
  const inputs = new Map<PageQueryField, HTMLInputElement | HTMLSelectElement>();
  for (const field of PAGE_QUERY_FIELDS) {
    const input = document.getElementById(`f-${field}`);
    if (input instanceof HTMLInputElement || input instanceof HTMLSelectElement) inputs.set(field, input);
  }

  const read = (): PageQuery => {
    const query = current();
    const next = emptyQuery();
    next.token = query.token;
    for (const [field, input] of inputs)
      next.values[field] = fieldValue(field, input.value, query.values[field]);
    return next;
  };

  let typingTimer = 0;
  const applyNow = () => {
    window.clearTimeout(typingTimer);
    apply(read());
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    applyNow();
  });
  form.addEventListener("change", applyNow);
  form.addEventListener("input", (event) => {
    if (
      event.target instanceof HTMLInputElement &&
      event.target.type !== "text" &&
      event.target.type !== "search"
    )
      return;
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(() => apply(read()), TYPING_DEBOUNCE_MS);
  });
  byId("clear-filters", HTMLButtonElement).addEventListener("click", () => {
    const next = emptyQuery();
    next.token = current().token;
    apply(next);
  });

  return {
    fill(query) {
      for (const [field, input] of inputs) input.value = inputValue(field, query.values[field]);
    },
    focus(field) {
      inputs.get(field)?.focus();
    },
  };
}
