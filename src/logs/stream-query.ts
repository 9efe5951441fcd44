/**
 * The query of `/logs/ws`: the six exact-match filters. Unknown or repeated parameters are refused with the
 * parameter named, so a typo (`repo=`) fails loudly instead of silently streaming everything.
 */
import { z } from "zod";
import { FILTER_FIELDS, LOG_LEVELS } from "./entry.ts";
import type { StreamStart } from "./socket.ts";
import type { LogFilters } from "./topics.ts";

/** Longest filter value accepted; real hook ids, repositories and users are far shorter. */
export const MAX_FILTER_VALUE_CHARS = 256;

/** An optional query parameter where an empty value (`?repository=`) means unset, as `URLSearchParams` writes it. */
export function emptyAsUnset<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === "" ? undefined : value), schema.optional());
}

/** An ISO 8601 timestamp parameter, as milliseconds since the epoch. */
export const isoTimestampParam = z
  .string()
  .max(64)
  .refine(
    (text) => /^\d{4}-\d\d-\d\d/.test(text) && !Number.isNaN(Date.parse(text)),
    "must be an ISO 8601 timestamp",
  )
  .transform((text) => Date.parse(text));

const optionalText = emptyAsUnset(
  z.string().max(MAX_FILTER_VALUE_CHARS, `at most ${MAX_FILTER_VALUE_CHARS} characters`),
);

export const logFilterQuerySchema = z.strictObject({
  hook_id: optionalText,
  pr_number: emptyAsUnset(
    z
      .string()
      .regex(/^\d{1,15}$/, "must be a positive integer")
      .transform((digits) => String(Number(digits))),
  ),
  repository: optionalText,
  event_type: optionalText,
  github_user: optionalText,
  level: z.preprocess(
    (value) => (value === "" ? undefined : typeof value === "string" ? value.toUpperCase() : value),
    z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }).optional(),
  ),
});

/** Most entries a `tail=N` backfill may ask for. */
export const MAX_TAIL = 10_000;

/** The opt-in start of a stream: at most one of them; none means live from now, as in the original. */
export const logStartQuerySchema = z.object({
  cursor: emptyAsUnset(z.string().max(64, "at most 64 characters")),
  tail: emptyAsUnset(
    z
      .string()
      .regex(/^\d{1,6}$/, `must be an integer from 0 to ${MAX_TAIL}`)
      .transform(Number)
      .refine((n) => n <= MAX_TAIL, `must be an integer from 0 to ${MAX_TAIL}`),
  ),
  since: emptyAsUnset(isoTimestampParam),
});

export const logStreamQuerySchema = logFilterQuerySchema
  .extend(logStartQuerySchema.shape)
  // Checked by the access layer before validation; allowed here so it is not an unknown parameter.
  .extend({ token: z.string().max(512).optional() })
  .refine((query) => [query.cursor, query.tail, query.since].filter((v) => v !== undefined).length <= 1, {
    message: "use only one of cursor, tail, since",
    path: ["cursor"],
  });

export type LogFilterQuery = z.output<typeof logFilterQuerySchema>;
export type LogStreamQuery = z.output<typeof logStreamQuerySchema>;

export function startOf(query: LogStreamQuery): StreamStart {
  if (query.cursor !== undefined) return { kind: "cursor", cursor: query.cursor };
  if (query.tail !== undefined) return { kind: "tail", count: query.tail };
  if (query.since !== undefined) return { kind: "since", ms: query.since };
  return { kind: "live" };
}

export function filtersOf(query: LogFilterQuery): LogFilters {
  const filters: LogFilters = {};
  for (const field of FILTER_FIELDS) {
    const value = query[field];
    if (value !== undefined) filters[field] = value;
  }
  return filters;
}
