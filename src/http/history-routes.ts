/**
 * `GET /logs/api/entries` (a page of history, newest first) and `GET /logs/api/export` (the same selection
 * streamed as JSON or NDJSON, page by page, never built in memory). Both take the original log viewer's
 * parameters and answer its keys beside hookstream's: `offset` paging and `entries_processed`…`is_partial_scan`
 * for entries, the `export_metadata`/`log_entries` document for a JSON export, `detail` on every error.
 */
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { stream } from "hono/streaming";
import { z } from "zod";
import type { HistoryIndex, IndexedEntry } from "../history/chunk-index.ts";
import { formatCount, historyPages, recordCountEstimate } from "../history/pages.ts";
import { decodePosition, encodePosition, type HistoryQuery, type Position } from "../history/search.ts";
import type { LogEntry } from "../logs/entry.ts";
import { emptyAsUnset, filtersOf, isoTimestampParam, logFilterQuerySchema } from "../logs/stream-query.ts";
import { errorBody } from "../transport/errors.ts";
import { allowRequestTime } from "../transport/request-time.ts";
import type { AppEnv } from "../transport/upgrade.ts";

export const MAX_HISTORY_LIMIT = 10_000;
/** Most entries one export streams; past it the stream ends with a note saying so. */
export const MAX_EXPORT_ENTRIES = 1_000_000;
/** Deepest `offset` accepted: skipping is paged, but each skipped page is still read. */
export const MAX_OFFSET = 1_000_000;

/** A time range bound: with a zone, since a naive time is ambiguous (the original fails on one with 500). */
const zonedTimestampParam = z
  .string()
  .max(64)
  .refine(
    (text) => !/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(text) || /(?:Z|[+-]\d\d:?\d\d)$/i.test(text),
    "needs a UTC offset (Z or +HH:MM): a time without one is ambiguous",
  )
  .pipe(isoTimestampParam);

const limitParam = (max: number) =>
  emptyAsUnset(
    z
      .string()
      .regex(/^\d{1,7}$/, `must be an integer from 1 to ${max}`)
      .transform(Number)
      .refine((n) => n >= 1 && n <= max, `must be an integer from 1 to ${max}`),
  );

export const historyQuerySchema = logFilterQuerySchema.extend({
  search: emptyAsUnset(z.string().max(256, "at most 256 characters")),
  start_time: emptyAsUnset(zonedTimestampParam),
  end_time: emptyAsUnset(zonedTimestampParam),
  limit: limitParam(MAX_HISTORY_LIMIT),
  cursor: emptyAsUnset(
    z
      .string()
      .max(512)
      .transform((text, ctx) => {
        const position = decodePosition(text);
        if (position === null) {
          ctx.addIssue({ code: "custom", message: "not a cursor returned by this API" });
          return z.NEVER;
        }
        return position;
      }),
  ),
  token: emptyAsUnset(z.string().max(512)),
});

const entriesQuerySchema = historyQuerySchema.extend({
  // The original's paging: skip this many matches (newest first), then `limit`.
  offset: emptyAsUnset(
    z
      .string()
      .regex(/^\d{1,7}$/, `must be an integer from 0 to ${MAX_OFFSET}`)
      .transform(Number)
      .refine((n) => n <= MAX_OFFSET, `must be an integer from 0 to ${MAX_OFFSET}`),
  ),
});

const exportFormat = emptyAsUnset(z.enum(["json", "ndjson"], { error: "must be json or ndjson" }));

const exportQuerySchema = historyQuerySchema
  .extend({
    limit: limitParam(MAX_EXPORT_ENTRIES),
    // `format_type` is the original's name; `format` hookstream's (and what the original's page sends).
    format_type: exportFormat,
    format: exportFormat,
  })
  .refine((q) => q.format === undefined || q.format_type === undefined || q.format === q.format_type, {
    message: "format and format_type disagree; give one",
    path: ["format_type"],
  });

type HistoryParams = z.output<typeof historyQuerySchema>;

function toQuery(params: HistoryParams, limit: number, before: Position | null): HistoryQuery {
  return {
    filters: filtersOf(params),
    search: params.search ?? null,
    startMs: params.start_time ?? null,
    endMs: params.end_time ?? null,
    limit,
    before,
  };
}

/** Python's `isoformat()` of a UTC instant, as the original writes times back. */
function isoformat(ms: number): string {
  return new Date(ms).toISOString().replace("Z", "+00:00");
}

/** The filters an export was given, as the original lists them in `export_metadata.filters_applied`. */
function filtersApplied(params: HistoryParams, limit: number): Record<string, unknown> {
  const applied: Record<string, unknown> = { ...filtersOf(params) };
  if (applied.pr_number !== undefined) applied.pr_number = Number(applied.pr_number);
  if (params.search !== undefined) applied.search = params.search;
  if (params.start_time !== undefined) applied.start_time = isoformat(params.start_time);
  if (params.end_time !== undefined) applied.end_time = isoformat(params.end_time);
  applied.limit = limit;
  return applied;
}

/** `webhook_logs_YYYYmmdd_HHMMSS`, the original's download name (in UTC here). */
function exportName(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "_").slice(0, 15);
  return `webhook_logs_${stamp}`;
}

export interface HistoryRoutesDeps {
  index: HistoryIndex;
  /** How long one page may take before it answers with what it has (`complete: false`). */
  budgetMs: number;
  describeIssue: (error: { issues: readonly z.core.$ZodIssue[] }) => { field: string; message: string };
}

/** One entry as the API returns it: the streamed shape plus its stable `id` (file identity and offset). */
export function serialiseEntry(item: IndexedEntry): string {
  return JSON.stringify({
    ...item.entry,
    cursor: undefined,
    id: `${item.file}:${item.offset}`,
  } satisfies LogEntry & { id: string });
}

export function createHistoryRoutes(deps: HistoryRoutesDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const refuse = (error: { issues: readonly z.core.$ZodIssue[] }) => {
    const { field, message } = deps.describeIssue(error);
    return errorBody(message, { field });
  };

  routes.get(
    "/logs/api/entries",
    zValidator("query", entriesQuerySchema, (result, c) => {
      if (!result.success) return c.json(refuse(result.error), 400);
    }),
    async (c) => {
      allowRequestTime(c, deps.budgetMs);
      const params = c.req.valid("query");
      const started = Date.now();
      const limit = params.limit ?? 100;
      const offset = params.offset ?? 0;
      const kept: IndexedEntry[] = [];
      let skipped = 0;
      let complete = true;
      let chunksRead = 0;
      let examined = 0;
      let next: Position | null = null;
      const query = toQuery(params, offset + limit, params.cursor ?? null);
      for await (const page of historyPages(deps.index, query, started + deps.budgetMs)) {
        complete &&= page.complete;
        chunksRead += page.chunksRead;
        examined += page.examined;
        next = page.next;
        for (const item of page.entries) {
          if (skipped < offset) skipped++;
          else kept.push(item);
        }
      }
      const body = `{"entries":[${kept.map(serialiseEntry).join(",")}],"entries_processed":${
        complete ? examined : JSON.stringify(`${examined}+`)
      },"filtered_count_min":${kept.length + offset},"total_log_count_estimate":${JSON.stringify(
        formatCount(recordCountEstimate(deps.index)),
      )},"limit":${limit},"offset":${offset},"is_partial_scan":${!complete},"next_cursor":${
        next === null || kept.length < limit ? "null" : JSON.stringify(encodePosition(next))
      },"complete":${complete},"chunks_read":${chunksRead},"took_ms":${Date.now() - started}}`;
      return c.body(body, 200, { "Content-Type": "application/json; charset=utf-8" });
    },
  );

  routes.get(
    "/logs/api/export",
    zValidator("query", exportQuerySchema, (result, c) => {
      if (!result.success) return c.json(refuse(result.error), 400);
    }),
    (c) => {
      // An export has no budget of its own; it gets the history budget before its first bytes go out.
      allowRequestTime(c, deps.budgetMs);
      const params = c.req.valid("query");
      const format = params.format_type ?? params.format ?? "json";
      const limit = params.limit ?? MAX_EXPORT_ENTRIES;
      const now = new Date();
      c.header(
        "Content-Type",
        format === "json" ? "application/json; charset=utf-8" : "application/x-ndjson; charset=utf-8",
      );
      c.header("Content-Disposition", `attachment; filename=${exportName(now)}.${format}`);
      return stream(c, async (out) => {
        let sent = 0;
        // The original's document, streamed: entries first, so the count can follow them.
        if (format === "json") await out.write('{"log_entries":[');
        const query = toQuery(params, limit, params.cursor ?? null);
        for await (const page of historyPages(deps.index, query, Number.POSITIVE_INFINITY)) {
          if (page.entries.length === 0) break;
          const lines = page.entries.map(serialiseEntry);
          await out.write(
            format === "json" ? `${sent === 0 ? "" : ","}\n${lines.join(",\n")}` : `${lines.join("\n")}\n`,
          );
          sent += page.entries.length;
        }
        if (format === "json") {
          const metadata = {
            generated_at: isoformat(now.getTime()),
            filters_applied: filtersApplied(params, limit),
            total_entries: sent,
            export_format: "json",
          };
          await out.write(`\n],\n"export_metadata":${JSON.stringify(metadata)}}\n`);
        }
      });
    },
  );

  return routes;
}
