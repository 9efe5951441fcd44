/**
 * Filters → canonical pub/sub topic, and entry → the topics it matches. Pure.
 *
 * A filter set is a subset of the six fields with one exact value each. Its *mask* says which fields are set
 * (bit i = FILTER_FIELDS[i]). An entry matches a filter set exactly when, for every field of the mask, the
 * entry's value equals the filter's. So the topics an entry matches are found by building, for each mask in
 * use, the one topic the entry's own values would produce — O(masks in use) ≤ 64 lookups, however many
 * distinct filter combinations clients hold.
 */
import { FILTER_FIELDS, type FilterField, type LogEntry } from "./entry.ts";

export type LogFilters = Partial<Record<FilterField, string>>;

const TOPIC_PREFIX = "logs/";

/** Bit of each field in a mask, in canonical order. */
const FIELD_COUNT = FILTER_FIELDS.length;

/** Value of a filter field as it is compared: pr_number as its decimal string, null when absent. */
export function fieldValue(entry: LogEntry, field: FilterField): string | null {
  const value = entry[field];
  if (value === null || value === undefined) return null;
  return typeof value === "number" ? String(value) : value;
}

export function maskOf(filters: LogFilters): number {
  let mask = 0;
  for (let i = 0; i < FIELD_COUNT; i++) {
    if (filters[FILTER_FIELDS[i] as FilterField] !== undefined) mask |= 1 << i;
  }
  return mask;
}

/**
 * The canonical topic: `logs/<mask>` followed by each set value as `/<length>:<value>`. The length prefix makes
 * it injective whatever characters a value holds, without escaping on the hot path.
 */
function topicFromValues(mask: number, valueAt: (i: number) => string | null): string | null {
  let topic = `${TOPIC_PREFIX}${mask}`;
  for (let i = 0; i < FIELD_COUNT; i++) {
    if ((mask & (1 << i)) === 0) continue;
    const value = valueAt(i);
    if (value === null) return null;
    topic += `/${value.length}:${value}`;
  }
  return topic;
}

export function topicForFilters(filters: LogFilters): string {
  const mask = maskOf(filters);
  return topicFromValues(mask, (i) => filters[FILTER_FIELDS[i] as FilterField] ?? null) as string;
}

/** Reference semantics, used by tests: does this entry satisfy every filter exactly? */
export function entryMatches(entry: LogEntry, filters: LogFilters): boolean {
  for (const field of FILTER_FIELDS) {
    const wanted = filters[field];
    if (wanted !== undefined && fieldValue(entry, field) !== wanted) return false;
  }
  return true;
}
