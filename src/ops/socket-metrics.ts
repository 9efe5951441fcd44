/**
 * The socket families, one sample per endpoint: connections, what the live fan-out sent, who is catching up or
 * lagging, who was closed for being slow, gap notices and failed authentications. The relay endpoint's samples
 * appear only when the instance runs a relay.
 */
import type { LogHub } from "../logs/log-hub.ts";
import type { LogStreamStats } from "../logs/socket.ts";
import type { Relay, RelayStats } from "../relay/relay.ts";
import { CloseCode } from "../transport/peer.ts";
import type { DefineMetric, Sample } from "./scraped-metric.ts";

const LOG_ENDPOINT = "/logs/ws";
const RELAY_ENDPOINT = "/v1/socket";

/** Failed authentications per endpoint (a route group such as `/logs/api`), counted by whoever checks. */
export type AuthFailureCounts = Map<string, number>;

export interface SocketMetricSources {
  openByEndpoint(): ReadonlyMap<string, number>;
  hub: LogHub;
  logStream: LogStreamStats;
  /** Absent on an instance without a relay: then no relay endpoint samples. */
  relay?: Pick<Relay, "stats">;
  authFailures: AuthFailureCounts;
}

const perEndpoint = (logs: number, relay: number | undefined): Sample[] => [
  { labels: { endpoint: LOG_ENDPOINT }, value: logs },
  ...(relay === undefined ? [] : [{ labels: { endpoint: RELAY_ENDPOINT }, value: relay }]),
];

/** Open sockets, and what the live fan-out sent and to whom. */
export function defineFanOutMetrics(define: DefineMetric, sources: SocketMetricSources): void {
  const { hub } = sources;
  const relayStats = () => sources.relay?.stats();
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
}

/** Sockets fed from storage, the ones that fell behind, and what became of them. */
export function defineCatchUpMetrics(define: DefineMetric, sources: SocketMetricSources): void {
  const { hub, logStream } = sources;
  const relayStats = () => sources.relay?.stats();
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
    () => slowClientCloses(logStream, relayStats()),
  );
  define(
    "counter",
    "gaps_reported_total",
    "Gap notices sent: a requested position was no longer retained.",
    () => perEndpoint(logStream.gapsReported, relayStats()?.gaps_reported),
  );
  if (sources.relay === undefined) return;
  define(
    "counter",
    "relay_catch_up_pages_total",
    "Pages relay sockets catching up read, by where from: the recent deliveries in memory, or the store.",
    () => {
      const relay = relayStats();
      return [
        { labels: { from: "memory" }, value: relay?.catch_up_pages_from_memory ?? 0 },
        { labels: { from: "store" }, value: relay?.catch_up_pages_from_store ?? 0 },
      ];
    },
  );
  define(
    "gauge",
    "relay_recent_deliveries_bytes",
    "What the recent deliveries kept in memory count towards their limit (RELAY_RECENT_BYTES).",
    () => relayStats()?.recent_deliveries_bytes ?? 0,
  );
}

function slowClientCloses(logStream: LogStreamStats, relay: RelayStats | undefined): Sample[] {
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
}

export function defineAuthMetrics(define: DefineMetric, sources: SocketMetricSources): void {
  define("counter", "auth_failures_total", "Failed authentications by endpoint.", () => {
    const samples: Sample[] = [...sources.authFailures].map(([endpoint, value]) => ({
      labels: { endpoint },
      value,
    }));
    const relay = sources.relay?.stats();
    // Relay sockets authenticate in-band, after the upgrade: the relay counts those.
    if (relay !== undefined)
      samples.push({ labels: { endpoint: RELAY_ENDPOINT }, value: relay.socket_auth_failures });
    return samples;
  });
}
