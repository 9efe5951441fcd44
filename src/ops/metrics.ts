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
import { type Metric, Registry } from "prom-client";
import type { LogClusterStats } from "../backend/seam.ts";
import type { Journal } from "../logs/journal.ts";
import type { LogHub } from "../logs/log-hub.ts";
import type { FollowerView } from "../logs/pipeline.ts";
import type { LogStreamStats } from "../logs/socket.ts";
import { WEBHOOK_REJECTIONS } from "../relay/input.ts";
import type { Relay } from "../relay/relay.ts";
import { COMMIT_SECONDS_BUCKETS } from "../relay/writer.ts";
import { CloseCode } from "../transport/peer.ts";

const LOG_ENDPOINT = "/logs/ws";
const RELAY_ENDPOINT = "/v1/socket";

/** Failed authentications per endpoint (a route group such as `/logs/api`), counted by whoever checks. */
export type AuthFailureCounts = Map<string, number>;

export interface MetricsSources {
  version: string;
  openByEndpoint(): ReadonlyMap<string, number>;
  logs: { hub: LogHub; follower: FollowerView; journal: Journal; stats: LogStreamStats };
  relay?: Relay;
  authFailures: AuthFailureCounts;
  /** Cluster mode only. */
  cluster?: () => LogClusterStats | null;
}

type Labels = Record<string, string>;
interface Sample {
  labels?: Labels;
  value: number;
  metricName?: string;
}

export interface Metrics {
  registry: Registry;
  /** The exposition text of every metric. */
  render(): Promise<string>;
  contentType: string;
}

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();

  /** A metric whose samples are read when scraped. prom-client formats whatever `get()` returns. */
  const define = (
    type: "counter" | "gauge" | "histogram",
    name: string,
    help: string,
    read: () => Sample[] | number,
  ) => {
    const fullName = `hookstream_${name}`;
    const metric = {
      name: fullName,
      help,
      type,
      aggregator: "sum",
      get: async () => {
        const value = read();
        return {
          name: fullName,
          help,
          type,
          aggregator: "sum",
          values: typeof value === "number" ? [{ value, labels: {} }] : value,
        };
      },
      reset() {},
    };
    registry.registerMetric(metric as unknown as Metric);
  };
  const perEndpoint = (logs: number, relay: number | undefined): Sample[] => [
    { labels: { endpoint: LOG_ENDPOINT }, value: logs },
    ...(relay === undefined ? [] : [{ labels: { endpoint: RELAY_ENDPOINT }, value: relay }]),
  ];
  const { hub, follower, journal, stats: logStream } = sources.logs;
  const relayStats = () => sources.relay?.stats();

  define("gauge", "build_info", "Version of hookstream and of Bun; always 1.", () => [
    { labels: { version: sources.version, bun: Bun.version }, value: 1 },
  ]);

  // The process, read when scraped. Not prom-client's default metrics: their event-loop monitor samples every
  // 10 ms and cost an idle server 9 ms of CPU a second (measured), more than everything else it does idle.
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

  // Sockets and fan-out.
  define("gauge", "websocket_connections", "Open WebSocket connections by endpoint.", () =>
    [LOG_ENDPOINT, ...(sources.relay === undefined ? [] : [RELAY_ENDPOINT])].map((endpoint) => ({
      labels: { endpoint },
      value: sources.openByEndpoint().get(endpoint) ?? 0,
    })),
  );
  define(
    "counter",
    "messages_sent_total",
    "Messages the live fan-out sent, once per socket, by endpoint.",
    () => perEndpoint(hub.stats().messagesSent, relayStats()?.messages_sent),
  );
  define(
    "counter",
    "sent_bytes_total",
    "Payload bytes the live fan-out sent, once per socket, by endpoint (log entries: UTF-16 length).",
    () => perEndpoint(hub.stats().charsSent, relayStats()?.bytes_sent),
  );
  define(
    "gauge",
    "log_topics",
    "Log stream topics (distinct filter sets) with live subscribers.",
    () => hub.stats().topics,
  );
  define("gauge", "log_subscribers", "Log stream sockets subscribed live.", () => hub.stats().subscribers);
  define(
    "gauge",
    "relay_authenticated_sockets",
    "Relay sockets that authenticated.",
    () => relayStats()?.authenticated ?? 0,
  );
  define(
    "gauge",
    "relay_subscriptions",
    "Relay subscriptions fed by the live fan-out.",
    () => relayStats()?.live ?? 0,
  );
  define("gauge", "catching_up", "Sockets fed from storage (resuming or lagging), by endpoint.", () =>
    perEndpoint(logStream.catchingUp, relayStats()?.catching_up),
  );
  define("counter", "lag_events_total", "Times a live socket fell behind and was switched to catch-up.", () =>
    perEndpoint(hub.stats().lagEvents, relayStats()?.lag_events),
  );
  define(
    "counter",
    "slow_client_closes_total",
    "Sockets closed for being too slow, by endpoint and close code.",
    () => {
      const relay = relayStats();
      const samples: Sample[] = [
        {
          labels: { endpoint: LOG_ENDPOINT, code: String(CloseCode.TOO_SLOW) },
          value: logStream.closedTooSlow,
        },
        {
          labels: { endpoint: LOG_ENDPOINT, code: String(CloseCode.BEHIND_RETENTION) },
          value: logStream.closedBehindRetention,
        },
      ];
      if (relay !== undefined)
        samples.push(
          {
            labels: { endpoint: RELAY_ENDPOINT, code: String(CloseCode.TOO_SLOW) },
            value: relay.closed_too_slow,
          },
          {
            labels: { endpoint: RELAY_ENDPOINT, code: String(CloseCode.BEHIND_RETENTION) },
            value: relay.closed_behind_retention,
          },
        );
      return samples;
    },
  );
  define(
    "counter",
    "gaps_reported_total",
    "Gap notices sent: a requested position was no longer retained.",
    () => perEndpoint(logStream.gapsReported, relayStats()?.gaps_reported),
  );
  define("counter", "auth_failures_total", "Failed authentications by endpoint.", () => {
    const samples: Sample[] = [...sources.authFailures].map(([endpoint, value]) => ({
      labels: { endpoint },
      value,
    }));
    const relay = relayStats();
    // Relay sockets authenticate in-band, after the upgrade: the relay counts those.
    if (relay !== undefined)
      samples.push({ labels: { endpoint: RELAY_ENDPOINT }, value: relay.socket_auth_failures });
    return samples;
  });

  // The log side.
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
  define("gauge", "journal_bytes", "Bytes in the journal's segments.", () =>
    journal.segments().reduce((sum, segment) => sum + segment.bytes, 0),
  );
  define("gauge", "journal_oldest_position", "Seq of the oldest entry the journal retains.", () =>
    journal.startSeq(),
  );
  define("gauge", "journal_next_position", "Seq the next journaled entry gets.", () => journal.endSeq());

  // The relay.
  const { relay } = sources;
  if (relay !== undefined) {
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
      const name = "hookstream_store_commit_duration_seconds";
      let cumulative = 0;
      const samples: Sample[] = COMMIT_SECONDS_BUCKETS.map((bound, i) => {
        cumulative += counts[i] ?? 0;
        return { metricName: `${name}_bucket`, labels: { le: String(bound) }, value: cumulative };
      });
      cumulative += counts[COMMIT_SECONDS_BUCKETS.length] ?? 0;
      samples.push(
        { metricName: `${name}_bucket`, labels: { le: "+Inf" }, value: cumulative },
        { metricName: `${name}_sum`, value: sumSeconds },
        { metricName: `${name}_count`, value: cumulative },
      );
      return samples;
    });
  }

  // Cluster mode.
  const { cluster } = sources;
  if (cluster !== undefined) {
    define(
      "gauge",
      "redis_up",
      "Whether this instance's last Redis command got through (1) or not (0).",
      () => (cluster()?.redisUp ? 1 : 0),
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

  return { registry, render: () => registry.metrics(), contentType: registry.contentType };
}
