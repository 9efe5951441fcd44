/**
 * The query of `/logs/ws`: the six exact-match filters. Unknown or repeated parameters are refused with the
 * parameter named, so a typo (`repo=`) fails loudly instead of silently streaming everything.
 */
import { z } from "zod";
import type { LogFilters } from "../hub/topics.ts";
import { LOG_LEVELS } from "./entry.ts";

/** Longest filter value accepted; real hook ids, repositories and users are far shorter. */
export const MAX_FILTER_VALUE_CHARS = 256;

/** An empty value (`?repository=`) means "no filter", as `URLSearchParams` writes unset fields. */
const optionalText = z.preprocess(
  (value) => (value === "" ? undefined : value),
  z.string().max(MAX_FILTER_VALUE_CHARS, `at most ${MAX_FILTER_VALUE_CHARS} characters`).optional(),
);

export const logFilterQuerySchema = z.strictObject({
  hook_id: optionalText,
  pr_number: z.preprocess(
    (value) => (value === "" ? undefined : value),
    z
      .string()
      .regex(/^\d{1,15}$/, "must be a positive integer")
      .transform((digits) => String(Number(digits)))
      .optional(),
  ),
  repository: optionalText,
  event_type: optionalText,
  github_user: optionalText,
  level: z.preprocess(
    (value) => (value === "" ? undefined : typeof value === "string" ? value.toUpperCase() : value),
    z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }).optional(),
  ),
});

export type LogFilterQuery = z.output<typeof logFilterQuerySchema>;

export function filtersOf(query: LogFilterQuery): LogFilters {
  const filters: LogFilters = {};
  for (const [field, value] of Object.entries(query)) {
    if (value !== undefined) filters[field as keyof LogFilters] = value;
  }
  return filters;
}
