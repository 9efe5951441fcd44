/**
 * Routing micro-benchmark of the log hub: the cost of `hub.publish(entry)` (match, serialise once, publish to
 * every matching topic; publish itself is a no-op here) with 1 active filter combination and with 10,000
 * distinct ones spread over eight field masks, on the same entries. Run alone with
 * `bun bench/routing.ts [--quick]`; `bun bench/run.ts` includes it.
 */

import type { LogEntry } from "../src/logs/entry.ts";
import { createLogHub } from "../src/logs/log-hub.ts";
import { redactSecrets } from "../src/logs/redact.ts";
import type { LogFilters } from "../src/logs/topics.ts";
import { median } from "./lib/stats.ts";

export const COMBINATIONS = 10_000;
const ENTRY_COUNT = 8192;
const ROUNDS = 5;

/** Field masks of the 10,000 filter sets (each gets an equal share), as fields rather than bits. */
const MASKS: ReadonlyArray<ReadonlyArray<keyof LogFilters>> = [
  ["hook_id"],
  ["pr_number"],
  ["repository", "event_type"],
  ["repository", "github_user"],
  ["repository", "level"],
  ["pr_number", "repository"],
  ["event_type", "github_user", "level"],
  ["hook_id", "level"],
];

const EVENTS = ["pull_request", "push", "issue_comment", "check_run"];
const LEVELS = ["INFO", "DEBUG", "WARNING", "ERROR", "STEP"];

/** A seeded generator (mulberry32), so every run routes the same entries through the same filters. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeEntries(): LogEntry[] {
  const next = random(1);
  const pick = (n: number) => Math.floor(next() * n);
  return Array.from({ length: ENTRY_COUNT }, (_, i) => ({
    timestamp: "2026-11-23T10:00:00.123456+00:00",
    level: LEVELS[pick(LEVELS.length)] as string,
    logger_name: "GithubWebhook",
    message: `routing entry ${i}: processing pull request synchronize for the main branch`,
    hook_id: `hook-${pick(2500)}`,
    event_type: EVENTS[pick(EVENTS.length)] as string,
    repository: `org/repo-${pick(500)}`,
    pr_number: pick(5000),
    github_user: `user-${pick(300)}`,
    task_id: null,
    task_type: null,
    task_status: null,
    token_spend: null,
  }));
}

/** 10,000 distinct filter sets: each mask's share is built from the values of random entries. */
function makeFilterSets(
  entries: LogEntry[],
  masks: ReadonlyArray<ReadonlyArray<keyof LogFilters>> = MASKS,
): LogFilters[] {
  const next = random(2);
  const perMask = Math.ceil(COMBINATIONS / masks.length);
  const sets: LogFilters[] = [];
  for (const fields of masks) {
    const seen = new Set<string>();
    while (seen.size < perMask && sets.length < COMBINATIONS) {
      const entry = entries[Math.floor(next() * entries.length)] as LogEntry;
      const filters: LogFilters = {};
      for (const field of fields) filters[field] = String(entry[field]);
      const key = JSON.stringify(filters);
      if (seen.has(key)) continue;
      seen.add(key);
      sets.push(filters);
    }
  }
  return sets;
}

/**
 * 10,000 distinct `repository` + `github_user` pairs: every entry's own pair (so each entry matches exactly one,
 * like the single combination), filled up with other pairs from the same value pools. Only the number of
 * combinations grows; the fields and the topics matched per entry stay the same.
 */
function makeOneMaskFilterSets(entries: LogEntry[]): LogFilters[] {
  const next = random(3);
  const seen = new Set<string>();
  const sets: LogFilters[] = [];
  for (const entry of entries) {
    const key = `${entry.repository} ${entry.github_user}`;
    if (seen.has(key) || sets.length >= COMBINATIONS) continue;
    seen.add(key);
    sets.push({ repository: entry.repository as string, github_user: entry.github_user as string });
  }
  while (sets.length < COMBINATIONS) {
    const filters: LogFilters = {
      repository: `org/repo-${Math.floor(next() * 500)}`,
      github_user: `user-${Math.floor(next() * 300)}`,
    };
    const key = `${filters.repository} ${filters.github_user}`;
    if (seen.has(key)) continue;
    seen.add(key);
    sets.push(filters);
  }
  return sets;
}

export interface RoutingCase {
  combinations: number;
  nsPerEntry: number;
  /** Topics an entry was published to, on average. */
  topicsPerEntry: number;
}

export interface RoutingResult {
  one: RoutingCase;
  many: RoutingCase;
  /** 10,000 combinations that all filter on the same fields (one mask). */
  manyOneMask: RoutingCase;
  /** many ÷ one. */
  ratio: number;
  /** manyOneMask ÷ one: what growing the number of combinations alone costs. */
  ratioOneMask: number;
  /** What serialising an entry (JSON + redaction, as configured) costs alone, for scale. */
  serialiseNs: number;
  entriesPerRound: number;
  redact: boolean;
}

function measure(
  filterSets: LogFilters[],
  entries: LogEntry[],
  perRound: number,
  redact: boolean,
): RoutingCase {
  let published = 0;
  const hub = createLogHub({
    publish: () => {
      published++;
    },
    redact,
  });
  // Members whose sockets never fall behind: routing alone is measured.
  for (const filters of filterSets) hub.subscribe(filters, { bufferedAmount: () => 0, onLag: () => {} });
  const mask = entries.length - 1;
  const round = () => {
    const started = Bun.nanoseconds();
    for (let i = 0; i < perRound; i++) hub.publish(entries[i & mask] as LogEntry);
    return (Bun.nanoseconds() - started) / perRound;
  };
  round(); // warm-up: JIT tiers and map shapes
  published = 0;
  const times = Array.from({ length: ROUNDS }, round);
  return {
    combinations: hub.stats().topics,
    nsPerEntry: median(times),
    topicsPerEntry: published / (ROUNDS * perRound),
  };
}

export function runRouting(quick: boolean): RoutingResult {
  // The server's default (REDACT_SECRETS=true): routing as it runs in production.
  const redact = true;
  const perRound = quick ? 50_000 : 200_000;
  const entries = makeEntries();
  const one = measure([{}], entries, perRound, redact);
  const many = measure(makeFilterSets(entries), entries, perRound, redact);
  const manyOneMask = measure(makeOneMaskFilterSets(entries), entries, perRound, redact);
  const serialise = (entry: LogEntry) => {
    const json = JSON.stringify(entry);
    return redact ? redactSecrets(json) : json;
  };
  const started = Bun.nanoseconds();
  for (let i = 0; i < perRound; i++) serialise(entries[i & (entries.length - 1)] as LogEntry);
  const serialiseNs = (Bun.nanoseconds() - started) / perRound;
  return {
    one,
    many,
    manyOneMask,
    ratio: many.nsPerEntry / one.nsPerEntry,
    ratioOneMask: manyOneMask.nsPerEntry / one.nsPerEntry,
    serialiseNs,
    entriesPerRound: perRound,
    redact,
  };
}

if (import.meta.main) {
  const result = runRouting(process.argv.includes("--quick"));
  const row = (c: RoutingCase) =>
    `${String(c.combinations).padStart(6)} combinations: ${c.nsPerEntry.toFixed(0).padStart(6)} ns/entry ` +
    `(${c.topicsPerEntry.toFixed(2)} topics matched per entry)`;
  console.log(row(result.one));
  console.log(row(result.many));
  console.log(row(result.manyOneMask), "(one mask)");
  console.log(
    `ratio ${result.ratio.toFixed(2)} over eight masks, ${result.ratioOneMask.toFixed(2)} on one mask (target ≤ 2); ` +
      `serialising alone ${result.serialiseNs.toFixed(0)} ns`,
  );
}
