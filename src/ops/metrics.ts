/**
 * `GET /metrics` in the Prometheus text format (prom-client), every name prefixed `hookstream_`.
 *
 * Nothing here runs per log line or per message: every value is read at scrape time from the stats the parts
 * already keep (hub, follower, journal, relay, transport, cluster). Where a count was missing, the part keeps
 * it as a plain integer in its stats (an addition or two per entry; no timer, map or label lookup).
 *
 * Labels have bounded values only: endpoints are route paths, formats, reasons and close codes are fixed
 * sets; no bucket, repository or token names.
 */
import { readdirSync } from "node:fs";
import Registry from "prom-client/lib/registry";
import type { LogClusterStats } from "../backend/seam.ts";
import type { Journal } from "../logs/journal.ts";
import type { LogHub } from "../logs/log-hub.ts";
import type { FollowerView } from "../logs/pipeline.ts";
import type { LogStreamStats } from "../logs/socket.ts";
import { WEBHOOK_REJECTIONS } from "../relay/input.ts";
import type { Relay } from "../relay/relay.ts";
import { COMMIT_SECONDS_BUCKETS } from "../relay/writer.ts";
import { type DefineMetric, histogramSamples, type Sample, scrapedMetrics } from "./scraped-metric.ts";
import {
  type AuthFailureCounts,
  defineAuthMetrics,
  defineCatchUpMetrics,
  defineFanOutMetrics,
} from "./socket-metrics.ts";

export type { AuthFailureCounts } from "./socket-metrics.ts";

export interface MetricsSources {
  version: string;
  openByEndpoint(): ReadonlyMap<string, number>;
  logs: { hub: LogHub; follower: FollowerView; journal: Journal; stats: LogStreamStats };
  relay?: Relay;
  authFailures: AuthFailureCounts;
  /** Cluster mode only. */
  cluster?: () => LogClusterStats | null;
}

export interface Metrics {
  registry: Registry;
  /** The exposition text of every metric. */
  render(): Promise<string>;
  contentType: string;
}

/** Every family, registered in the order the exposition lists them. */
export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  const define = scrapedMetrics(registry);
  define("gauge", "build_info", "Version of hookstream and of Bun; always 1.", () => [
    { labels: { version: sources.version, bun: Bun.version }, value: 1 },
  ]);
  defineProcessMetrics(define);
  const sockets = {
    openByEndpoint: sources.openByEndpoint,
    hub: sources.logs.hub,
    logStream: sources.logs.stats,
    ...(sources.relay === undefined ? {} : { relay: sources.relay }),
    authFailures: sources.authFailures,
  };
  defineFanOutMetrics(define, sockets);
  defineCatchUpMetrics(define, sockets);
  defineAuthMetrics(define, sockets);
  defineFollowerMetrics(define, sources.logs);
  defineJournalMetrics(define, sources.logs.journal);
  if (sources.relay !== undefined) defineRelayMetrics(define, sources.relay);
  if (sources.cluster !== undefined) defineClusterMetrics(define, sources.cluster);
  return { registry, render: () => registry.metrics(), contentType: registry.contentType };
}

/**
 * The process, read when scraped. Not prom-client's default metrics: their event-loop monitor samples every
 * 10 ms and cost an idle server 9 ms of CPU a second (measured), more than everything else it does idle.
 */
function defineProcessMetrics(define: DefineMetric): void {
  const startedAt = Date.now() / 1000 - process.uptime();
  define("counter", "process_cpu_seconds_total", "CPU time of the process (user and system).", () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  });
  define("gauge", "process_resident_memory_bytes", "Resident memory of the process.", () =>
    process.memoryUsage.rss(),
  );
  define("gauge", "process_heap_bytes", "JavaScript heap in use.", () => process.memoryUsage().heapUsed);
  define("gauge", "process_start_time_seconds", "When the process started (Unix time).", () => startedAt);
  define("gauge", "process_open_fds", "Open file descriptors (sockets and files).", () => {
    try {
      return readdirSync("/proc/self/fd").length;
    } catch {
      return 0; // no /proc here
    }
  });
}

/** What the log reader made of the files' lines: entries by format, cut lines, rotations, twin pairing. */
function defineFollowerMetrics(define: DefineMetric, logs: MetricsSources["logs"]): void {
  const { hub, follower } = logs;
  const byFormat = (pick: (counts: { read: number; unparsed: number }) => number) => (): Sample[] => {
    const { entries } = follower.stats();
    return (["text", "json"] as const).map((format) => ({
      labels: { format },
      value: pick(entries[format]),
    }));
  };
  define(
    "counter",
    "log_entries_read_total",
    "Entries made from log file lines, by file format.",
    byFormat((c) => c.read),
  );
  define(
    "counter",
    "log_entries_parsed_total",
    "Entries whose line was parsed, by file format.",
    byFormat((c) => c.read - c.unparsed),
  );
  define(
    "counter",
    "log_entries_unparsed_total",
    "Lines streamed raw (level UNKNOWN) because they did not parse, by file format.",
    byFormat((c) => c.unparsed),
  );
  define(
    "counter",
    "log_entries_streamed_total",
    "Entries the hub journaled and routed.",
    () => hub.stats().entriesSeen,
  );
  define(
    "counter",
    "log_lines_cut_total",
    "Lines longer than the reader's limit, cut and marked truncated.",
    () => follower.stats().linesTruncated,
  );
  define(
    "counter",
    "log_rotations_total",
    "Rename rotations of followed files.",
    () => follower.stats().rotationsSeen,
  );
  define(
    "counter",
    "log_truncations_total",
    "Files truncated in place (copy-truncate).",
    () => follower.stats().truncationsSeen,
  );
  define(
    "counter",
    "log_twins_total",
    "Pairing of the processor's text and JSON copies of a record, by outcome.",
    () => {
      const twins = follower.stats().twins;
      if (twins === null) return [];
      return [
        { labels: { outcome: "merged" }, value: twins.pairsMerged },
        { labels: { outcome: "never_came" }, value: twins.twinNeverCame },
        { labels: { outcome: "late_dropped" }, value: twins.lateTwinsDropped },
        { labels: { outcome: "released_at_limit" }, value: twins.releasedAtLimit },
      ];
    },
  );
  define(
    "gauge",
    "log_twins_held",
    "Entries held while waiting for their twin.",
    () => follower.stats().twins?.held ?? 0,
  );
}

function defineJournalMetrics(define: DefineMetric, journal: Journal): void {
  define("gauge", "journal_bytes", "Bytes in the journal's segments.", () =>
    journal.segments().reduce((sum, segment) => sum + segment.bytes, 0),
  );
  define("gauge", "journal_oldest_position", "Seq of the oldest entry the journal retains.", () =>
    journal.startSeq(),
  );
  define("gauge", "journal_next_position", "Seq the next journaled entry gets.", () => journal.endSeq());
}

/** The webhook inputs and the store's group commits. */
function defineRelayMetrics(define: DefineMetric, relay: Relay): void {
  define(
    "counter",
    "webhooks_accepted_total",
    "Deliveries stored and relayed.",
    () => relay.stats().deliveries_stored,
  );
  define(
    "counter",
    "webhooks_deduplicated_total",
    "Redeliveries answered without being stored again.",
    () => relay.stats().duplicates,
  );
  define("counter", "webhooks_rejected_total", "Deliveries refused, by reason.", () => {
    const rejected = relay.stats().webhooks_rejected;
    return WEBHOOK_REJECTIONS.map((reason) => ({ labels: { reason }, value: rejected[reason] }));
  });
  define(
    "counter",
    "webhooks_store_failed_total",
    "Deliveries whose store transaction failed.",
    () => relay.stats().deliveries_failed,
  );
  define("gauge", "webhooks_queued", "Deliveries waiting for a commit.", () => relay.stats().queued);
  define("histogram", "store_commit_duration_seconds", "Relay store group-commit duration.", () => {
    const { counts, sumSeconds } = relay.commitDurations();
    return histogramSamples(
      "hookstream_store_commit_duration_seconds",
      COMMIT_SECONDS_BUCKETS,
      counts,
      sumSeconds,
    );
  });
}

/** Cluster mode: Redis reachability, the log writer lease, how far this instance's mirror lags. */
function defineClusterMetrics(define: DefineMetric, cluster: () => LogClusterStats | null): void {
  define("gauge", "redis_up", "Whether this instance's last Redis command got through (1) or not (0).", () =>
    cluster()?.redisUp ? 1 : 0,
  );
  define("gauge", "cluster_writer", "Whether this instance holds the log writer lease.", () =>
    cluster()?.writer ? 1 : 0,
  );
  define(
    "gauge",
    "cluster_lease_holder",
    "The instance holding the log writer lease, as last seen; 1.",
    () => {
      const holder = cluster()?.leaseHolder ?? null;
      return holder === null ? [] : [{ labels: { instance: holder }, value: 1 }];
    },
  );
  define(
    "gauge",
    "cluster_mirror_lag_entries",
    "Entries in the shared stream this instance has not mirrored.",
    () => cluster()?.mirrorLag ?? 0,
  );
}
