/**
 * The page's query: the six exact-match stream filters, the free-text search and the time range, as they sit
 * in the page URL. Pure: builds the stream, history, export and share URLs and the client-side matcher, so
 * the same rules hold in the browser and in table tests.
 */
import type { LogEntry } from "../../logs/entry.ts";
import { FILTER_FIELDS, type FilterField } from "../../logs/entry.ts";

/** Filters the server applies (exact match) plus what only the history API and the page apply. */
export const PAGE_QUERY_FIELDS = [...FILTER_FIELDS, "search", "start_time", "end_time"] as const;
export type PageQueryField = (typeof PAGE_QUERY_FIELDS)[number];

export interface PageQuery {
  /** Every field present; "" means unset, as an empty form input. */
  values: Record<PageQueryField, string>;
  /** LOGS_TOKEN given in the page URL: passed on to the stream, the APIs and export links, never shared. */
  token: string | null;
}

/** How many entries a fresh connection asks for before going live. */
export const BACKFILL_TAIL = 500;
/** Page size of the history API. */
export const HISTORY_PAGE = 500;

export function emptyQuery(): PageQuery {
  const values = {} as Record<PageQueryField, string>;
  for (const field of PAGE_QUERY_FIELDS) values[field] = "";
  return { values, token: null };
}

export function parsePageQuery(params: URLSearchParams): PageQuery {
  const query = emptyQuery();
  for (const field of PAGE_QUERY_FIELDS) query.values[field] = (params.get(field) ?? "").trim();
  query.values.level = query.values.level.toUpperCase();
  const token = params.get("token");
  query.token = token === null || token === "" ? null : token;
  return query;
}

export function withValue(query: PageQuery, field: PageQueryField, value: string): PageQuery {
  return { token: query.token, values: { ...query.values, [field]: value.trim() } };
}

export function sameValues(a: PageQuery, b: PageQuery): boolean {
  return PAGE_QUERY_FIELDS.every((field) => a.values[field] === b.values[field]);
}

function setIfPresent(params: URLSearchParams, query: PageQuery, fields: readonly PageQueryField[]) {
  for (const field of fields) {
    const value = query.values[field];
    if (value !== "") params.set(field, value);
  }
}

/** The six server-side filters, unset ones left out. */
export function filterParams(query: PageQuery): URLSearchParams {
  const params = new URLSearchParams();
  setIfPresent(params, query, FILTER_FIELDS);
  return params;
}

/** Search or a time range: the view is history from the API plus live entries filtered by the page. */
export function isHistoryMode(query: PageQuery): boolean {
  return query.values.search !== "" || query.values.start_time !== "" || query.values.end_time !== "";
}

export type StreamStart = { cursor: string } | { tail: number };

export function streamUrl(origin: { protocol: string; host: string }, query: PageQuery, start: StreamStart) {
  const params = filterParams(query);
  if ("cursor" in start) params.set("cursor", start.cursor);
  else params.set("tail", String(start.tail));
  if (query.token !== null) params.set("token", query.token);
  const scheme = origin.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${origin.host}/logs/ws?${params}`;
}

export interface HistoryPageRequest {
  cursor: string | null;
  /** Upper bound when the user set none: where the entries already shown begin. */
  before: string | null;
}

export function historyUrl(query: PageQuery, request: HistoryPageRequest): string {
  const params = new URLSearchParams();
  setIfPresent(params, query, PAGE_QUERY_FIELDS);
  if (query.values.end_time === "" && request.before !== null) params.set("end_time", request.before);
  params.set("limit", String(HISTORY_PAGE));
  if (request.cursor !== null) params.set("cursor", request.cursor);
  return `/logs/api/entries?${params}`;
}

/** Export link: a navigation, so it carries the token itself when the page was given one. */
export function exportUrl(query: PageQuery, format: "ndjson" | "json"): string {
  const params = new URLSearchParams();
  setIfPresent(params, query, PAGE_QUERY_FIELDS);
  params.set("format", format);
  if (query.token !== null) params.set("token", query.token);
  return `/logs/api/export?${params}`;
}

/** The page URL for these filters, without the token: safe to paste into a chat. */
export function shareUrl(base: string, query: PageQuery): string {
  const params = new URLSearchParams();
  setIfPresent(params, query, PAGE_QUERY_FIELDS);
  const text = params.toString();
  return text === "" ? base : `${base}?${text}`;
}

/** The page URL as the address bar should show it: the share URL plus the token when one was given. */
export function pageUrl(base: string, query: PageQuery): string {
  const params = new URLSearchParams();
  setIfPresent(params, query, PAGE_QUERY_FIELDS);
  if (query.token !== null) params.set("token", query.token);
  const text = params.toString();
  return text === "" ? base : `${base}?${text}`;
}

/**
 * What the page applies itself to entries the stream sends: the search (case-insensitive, in the message,
 * as the original viewer searches) and the time range. The six exact filters are the server's job.
 */
export function createEntryMatcher(query: PageQuery): (entry: LogEntry) => boolean {
  const needle = query.values.search.toLowerCase();
  const from = query.values.start_time === "" ? Number.NaN : Date.parse(query.values.start_time);
  const to = query.values.end_time === "" ? Number.NaN : Date.parse(query.values.end_time);
  if (needle === "" && Number.isNaN(from) && Number.isNaN(to)) return () => true;
  return (entry) => {
    if (needle !== "" && !entry.message.toLowerCase().includes(needle)) return false;
    if (!Number.isNaN(from) || !Number.isNaN(to)) {
      const at = Date.parse(entry.timestamp);
      if (!Number.isNaN(from) && !(at >= from)) return false;
      if (!Number.isNaN(to) && !(at <= to)) return false;
    }
    return true;
  };
}

/** Where history meets the stream's backfill, one entry is the same record if these agree. */
export function dedupeKey(entry: LogEntry): string {
  return `${entry.timestamp}\u0000${entry.message}\u0000${entry.hook_id ?? ""}\u0000${entry.logger_name ?? ""}`;
}

/** Which page-query field a clickable value in a row filters by. */
export const CLICKABLE_FIELDS = [
  "repository",
  "event_type",
  "hook_id",
  "pr_number",
  "github_user",
] as const satisfies readonly FilterField[];
