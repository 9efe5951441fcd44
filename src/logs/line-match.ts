/**
 * Filtering journal lines (serialised entries) without the live router: a substring test per filter on the
 * canonical JSON rejects most lines cheaply, and a parse confirms the rest exactly. Pure.
 */

import type { LogEntry } from "./entry.ts";
import { entryMatches, type LogFilters } from "./topics.ts";

export type LineMatcher = (line: string) => boolean;

/** `"field":value` exactly as JSON.stringify writes it into a serialised entry. */
function needleOf(field: keyof LogFilters, value: string): string {
  return `"${field}":${field === "pr_number" ? value : JSON.stringify(value)}`;
}

export function createLineMatcher(filters: LogFilters, sinceMs: number | null = null): LineMatcher {
  const needles = Object.entries(filters).map(([field, value]) => needleOf(field as keyof LogFilters, value));
  if (needles.length === 0 && sinceMs === null) return () => true;
  return (line) => {
    for (const needle of needles) if (!line.includes(needle)) return false;
    let entry: LogEntry;
    try {
      entry = JSON.parse(line) as LogEntry;
    } catch {
      return false; // the journal only holds whole serialised entries; anything else is not an entry
    }
    if (!entryMatches(entry, filters)) return false;
    return sinceMs === null || Date.parse(entry.timestamp) >= sinceMs;
  };
}
