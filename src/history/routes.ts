/**
 * `GET /logs/api/entries` (a page of history, newest first) and `GET /logs/api/export` (the same selection
 * streamed as JSON or NDJSON, page by page, never built in memory).
 */
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { stream } from "hono/streaming";
import { z } from "zod";
import { errorBody } from "../http/errors.ts";
import type { AppEnv } from "../http/upgrade.ts";
import type { LogEntry } from "../logs/entry.ts";
import { emptyAsUnset, filtersOf, isoTimestampParam, logFilterQuerySchema } from "../logs/query.ts";
import type { HistoryIndex, IndexedEntry } from "./index.ts";
import {
  decodePosition,
  encodePosition,
  type HistoryQuery,
  type Position,
  runHistoryQuery,
} from "./query.ts";

export const MAX_HISTORY_LIMIT = 10_000;
/** Most entries one export streams; past it the stream ends with a note saying so. */
export const MAX_EXPORT_ENTRIES = 1_000_000;
const EXPORT_PAGE = 1_000;

export const historyQuerySchema = logFilterQuerySchema.extend({
  search: emptyAsUnset(z.string().max(256, "at most 256 characters")),
  start_time: emptyAsUnset(isoTimestampParam),
  end_time: emptyAsUnset(isoTimestampParam),
  limit: emptyAsUnset(
    z
      .string()
      .regex(/^\d{1,6}$/, `must be an integer from 1 to ${MAX_HISTORY_LIMIT}`)
      .transform(Number)
      .refine((n) => n >= 1 && n <= MAX_HISTORY_LIMIT, `must be an integer from 1 to ${MAX_HISTORY_LIMIT}`),
  ),
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
  format: emptyAsUnset(z.enum(["json", "ndjson"], { error: "must be json or ndjson" })),
  token: emptyAsUnset(z.string().max(512)),
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

export interface HistoryRoutesDeps {
  index: HistoryIndex;
  /** How long one page may take before it answers with what it has (`complete: false`). */
  budgetMs: number;
  describeIssue: (error: { issues: readonly z.core.$ZodIssue[] }) => { field: string; message: string };
}

export function createHistoryRoutes(deps: HistoryRoutesDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const validate = zValidator("query", historyQuerySchema, (result, c) => {
    if (result.success) return;
    const { field, message } = deps.describeIssue(result.error);
    return c.json(errorBody(message, { field }), 400);
  });
  /**
   * One entry as the API returns it: the streamed shape plus its stable `id` (file identity and offset).
   * The index hands out entries already masked.
   */
  const serialise = (item: IndexedEntry): string =>
    JSON.stringify({
      ...item.entry,
      cursor: undefined,
      id: `${item.file}:${item.offset}`,
    } satisfies LogEntry & { id: string });

  routes.get("/logs/api/entries", validate, async (c) => {
    const params = c.req.valid("query");
    const started = Date.now();
    const result = await runHistoryQuery(
      deps.index,
      toQuery(params, params.limit ?? 100, params.cursor ?? null),
      started + deps.budgetMs,
    );
    const body = `{"entries":[${result.entries.map(serialise).join(",")}],"next_cursor":${
      result.next === null ? "null" : JSON.stringify(encodePosition(result.next))
    },"complete":${result.complete},"chunks_read":${result.chunksRead},"took_ms":${Date.now() - started}}`;
    return c.body(body, 200, { "Content-Type": "application/json; charset=utf-8" });
  });

  routes.get("/logs/api/export", validate, (c) => {
    const params = c.req.valid("query");
    const format = params.format ?? "ndjson";
    const limit = Math.min(params.limit ?? MAX_EXPORT_ENTRIES, MAX_EXPORT_ENTRIES);
    c.header(
      "Content-Type",
      format === "json" ? "application/json; charset=utf-8" : "application/x-ndjson; charset=utf-8",
    );
    c.header(
      "Content-Disposition",
      `attachment; filename="hookstream-logs.${format === "json" ? "json" : "ndjson"}"`,
    );
    return stream(c, async (out) => {
      let before = params.cursor ?? null;
      let sent = 0;
      if (format === "json") await out.write("[");
      while (sent < limit) {
        const page = await runHistoryQuery(
          deps.index,
          toQuery(params, Math.min(EXPORT_PAGE, limit - sent), before),
          Number.POSITIVE_INFINITY,
        );
        if (page.entries.length === 0) break;
        const lines = page.entries.map(serialise);
        await out.write(
          format === "json" ? `${sent === 0 ? "" : ","}\n${lines.join(",\n")}` : `${lines.join("\n")}\n`,
        );
        sent += page.entries.length;
        if (page.next === null) break;
        before = page.next;
      }
      if (format === "json") await out.write("\n]\n");
    });
  });

  return routes;
}
