/**
 * The composition root: opens the backend the Config asks for, builds the log pipeline, relay, transport and
 * app on it, serves them with Bun.serve, and shuts them down in order. main.ts calls it with the
 * environment's config; tests call it with port 0 and a temporary directory.
 */
import type { Server } from "bun";
import type { Hono } from "hono";
import packageJson from "../package.json" with { type: "json" };
import { createApp, type Lifecycle } from "./app.ts";
import { createHistoryIndex, type HistoryIndex } from "./history/chunk-index.ts";
import { createLogsAccess } from "./http/logs-access.ts";
import { weakTokenReason } from "./http/token-strength.ts";
import type { LogPipeline } from "./logs/pipeline.ts";
import type { LogStreamStats } from "./logs/socket.ts";
import { type Backend, openBackend } from "./open-backend.ts";
import { type AuthFailureCounts, createMetrics, type MetricsSources } from "./ops/metrics.ts";
import { createOperationsRoutes } from "./ops/operations-routes.ts";
import type { ReadinessSources } from "./ops/probes.ts";
import type { Config } from "./process/config.ts";
import { lockDataDir } from "./process/data-dir-lock.ts";
import { formatLogLine, isLogged, type LogLevel } from "./process/log-line.ts";
import { createRelay, type Relay } from "./relay/relay.ts";
import { CATCH_UP_HIGH_WATER_BYTES } from "./stream/subscriber.ts";
import { type AuthLimiter, createAuthLimiter } from "./transport/auth-limiter.ts";
import { createSocketTransport, type SocketTransport } from "./transport/bun-ws.ts";
import { type ConnectionLimiter, createConnectionLimiter } from "./transport/connections.ts";
import { CloseCode, type SocketData } from "./transport/peer.ts";
import type { AppEnv } from "./transport/upgrade.ts";

export type LogFn = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/**
 * The server's own log: `text` lines for people, `json` lines for log shippers (see log-line.ts); lines below
 * `threshold` (LOG_LEVEL) are dropped. Warnings and errors go to stderr.
 */
export function createConsoleLog(format: "text" | "json", threshold: LogLevel = "info"): LogFn {
  return (level, message, fields) => {
    if (!isLogged(threshold, level)) return;
    const line = formatLogLine(format, new Date().toISOString(), level, message, fields);
    if (level === "info") console.log(line);
    else console.error(line);
  };
}

export const consoleLog: LogFn = createConsoleLog("text");

export interface RunningServer {
  server: Server<SocketData>;
  /** The routes it serves (for the API reference's tests). */
  app: Hono<AppEnv>;
  url: URL;
  /** Stops accepting, closes every socket with 1001 `Server shutdown`, waits up to the grace period. */
  shutdown(): Promise<void>;
}

export async function startServer(config: Config, log: LogFn = consoleLog): Promise<RunningServer> {
  let shuttingDown = false;
  let logsRunning = false;
  const startedAt = Date.now();
  const unlockDataDir = lockDataDir(config.dataDir);

  const limiter = createConnectionLimiter({
    max: config.maxConnections,
    maxPerIp: config.maxConnectionsPerIp,
  });
  const transport = createSocketTransport({
    limiter,
    maxPayloadBytes: config.wsMaxPayloadBytes,
    backpressureLimitBytes: config.wsBackpressureLimitBytes,
    idleTimeoutSeconds: config.wsIdleTimeoutSeconds,
    log,
  });
  // Called only once requests or sockets exist, i.e. after `server` below is assigned; the pipeline
  // publishes through it too, and no entry is read before it exists.
  const serving: Serving = {
    publish: (topic, payload) => server.publish(topic, payload),
    subscriberCount: (topic) => server.subscriberCount(topic),
    port: () => server.port,
  };
  // Embedded or cluster mode: the stores and streams every other part is built on.
  const backend = await openBackend(config, log);
  const logs = await backend.openLogs(serving.publish);
  const logStreamStats: LogStreamStats = {
    catchingUp: 0,
    closedTooSlow: 0,
    closedBehindRetention: 0,
    gapsReported: 0,
  };
  const historyIndex = openHistoryIndex(config, log);
  // One limiter for every credential path: relay tokens and LOGS_TOKEN however presented.
  const authLimiter = createAuthLimiter({ maxFailures: config.relay.authFailuresPerMinute });
  const relay = await openRelay({ config, backend, logs, authLimiter, serving, log });
  const stopAnswers =
    (await backend.answers?.subscribe((payload) => relay.passthrough.received(payload))) ?? null;
  await warnAtStart(config, backend, log);
  const app = createServedApp({
    config,
    backend,
    logs,
    logStreamStats,
    historyIndex,
    relay,
    limiter,
    transport,
    authLimiter,
    lifecycle: { startedAt, isShuttingDown: () => shuttingDown },
    logsRunning: () => logsRunning,
    log,
  });

  const server: Server<SocketData> = Bun.serve<SocketData>({
    port: config.port,
    hostname: config.host,
    reusePort: config.reusePort,
    fetch: (request, bunServer) => app.fetch(request, bunServer),
    websocket: transport.websocket,
  });
  await logs.start();
  logsRunning = true;
  // Index the existing history in the background; queries wait for it only up to their time budget.
  void historyIndex.refresh();

  const url = new URL(
    `http://${server.hostname === "0.0.0.0" ? "127.0.0.1" : server.hostname}:${server.port}`,
  );
  let shutdownPromise: Promise<void> | null = null;

  return {
    server,
    app,
    url,
    shutdown() {
      shutdownPromise ??= (async () => {
        // From here on /health answers 503 and new upgrades are refused.
        shuttingDown = true;
        logsRunning = false;
        await stopInOrder({ config, log, server, transport, relay, logs, backend, stopAnswers });
        // What was indexed since the last save, so the next start reads only what is appended meanwhile.
        await historyIndex.close();
        unlockDataDir();
      })();
      return shutdownPromise;
    },
  };
}

/** What the parts built before `Bun.serve` use of the server once it runs. */
interface Serving {
  publish(topic: string, payload: string): void;
  subscriberCount(topic: string): number;
  port(): number | undefined;
}

interface RelayParts {
  config: Config;
  backend: Backend;
  logs: LogPipeline;
  authLimiter: AuthLimiter;
  serving: Serving;
  log: LogFn;
}

/** The webhook relay on the backend's store and delivery source, publishing through the server. */
function openRelay({ config, backend, logs, authLimiter, serving, log }: RelayParts): Promise<Relay> {
  return createRelay({
    ...config.relay,
    authLimiter,
    store: backend.store,
    publish: serving.publish,
    subscriberCount: serving.subscriberCount,
    publicUrl: () => config.relay.publicUrl ?? `http://localhost:${serving.port()}`,
    logs: { publish: (entry) => logs.publish(entry) },
    deliveries: backend.deliveries,
    cursorAheadWaitMs: backend.cursorAheadWaitMs,
    ...(backend.answers === undefined ? {} : { answerBus: backend.answers }),
    log,
  });
}

interface AppParts {
  config: Config;
  backend: Backend;
  logs: LogPipeline;
  logStreamStats: LogStreamStats;
  historyIndex: HistoryIndex;
  relay: Relay;
  limiter: ConnectionLimiter;
  transport: SocketTransport;
  authLimiter: AuthLimiter;
  lifecycle: Lifecycle;
  logsRunning: () => boolean;
  log: LogFn;
}

/** The routes the server serves, with the operations routes on what the backend reports. */
function createServedApp(parts: AppParts): Hono<AppEnv> {
  const { config, backend, logs, logStreamStats, historyIndex, relay, lifecycle, log } = parts;
  const { hub, journal, follower } = logs;
  return createApp({
    logs: {
      hub,
      follower,
      journal,
      stats: logStreamStats,
      limits: {
        catchUpHighWaterBytes: CATCH_UP_HIGH_WATER_BYTES,
        catchUpTotalBytes: config.catchUpTotalBytes,
        stallTimeoutMs: config.logStallTimeoutMs,
        cursorAheadWaitMs: backend.cursorAheadWaitMs,
      },
    },
    relay,
    limiter: parts.limiter,
    openSockets: parts.transport.openCount,
    lifecycle,
    log,
    access: createLogsAccess({ token: config.logsToken, limiter: parts.authLimiter }),
    redactSecrets: config.redactSecrets,
    allowedHosts: config.allowedHosts,
    mcpEnabled: config.mcpEnabled,
    history: { index: historyIndex, budgetMs: config.historyBudgetMs },
    operations: createOperations({
      config,
      backend,
      relay,
      metricsLogs: { hub, follower, journal, stats: logStreamStats },
      openByEndpoint: parts.transport.openByEndpoint,
      authLimiter: parts.authLimiter,
      readiness: { isShuttingDown: lifecycle.isShuttingDown, logsRunning: parts.logsRunning },
      log,
    }),
    cluster: backend.health.report,
  });
}

interface OperationsParts {
  config: Config;
  backend: Backend;
  relay: Relay;
  metricsLogs: MetricsSources["logs"];
  openByEndpoint: MetricsSources["openByEndpoint"];
  authLimiter: AuthLimiter;
  readiness: Pick<ReadinessSources, "isShuttingDown" | "logsRunning">;
  log: LogFn;
}

/** Probes, metrics and the API reference, on what the backend reports. */
function createOperations(parts: OperationsParts) {
  const { config, backend, authLimiter } = parts;
  // Failed authentications per endpoint, for /metrics.
  const authFailures: AuthFailureCounts = new Map();
  return createOperationsRoutes({
    readiness: {
      ...parts.readiness,
      pingStore: () => backend.store.externalChanges(),
      redisUp: backend.health.redisUp,
    },
    metrics: {
      metrics: createMetrics({
        version: packageJson.version,
        openByEndpoint: parts.openByEndpoint,
        logs: parts.metricsLogs,
        relay: parts.relay,
        authFailures,
        cluster: backend.health.logs,
      }),
      token: config.metricsToken,
      limiter: authLimiter,
      authFailures,
    },
    accessLog: parts.log,
    version: packageJson.version,
  });
}

interface RunningParts {
  config: Config;
  log: LogFn;
  server: Server<SocketData>;
  transport: SocketTransport;
  relay: Relay;
  logs: LogPipeline;
  backend: Backend;
  /** Cluster mode: leaves the channel of passthrough answers. */
  stopAnswers: (() => void) | null;
}

/** Stops following, closes every socket (bounded by the grace period), then closes the parts in order. */
async function stopInOrder(parts: RunningParts) {
  const { config, log, server, transport, relay, logs, backend } = parts;
  // Senders waiting for an agent's answer get their configured response now, not at the grace's end.
  relay.passthrough.close();
  logs.stop();
  // Bun runs each close handler as soon as the close frame is queued; the TCP connections then
  // finish the closing handshake. Wait for that (bounded), then cut whatever is left.
  transport.closeAll(CloseCode.GOING_AWAY, "Server shutdown");
  relay.localTopics.endAll();
  const drained = await Promise.race([
    server.stop(false).then(() => true),
    Bun.sleep(config.shutdownGraceMs).then(() => false),
  ]);
  if (!drained) log("warn", `connections still open after ${config.shutdownGraceMs} ms; closing them`);
  await server.stop(true);
  parts.stopAnswers?.();
  await relay.close();
  // Relayed log entries still queued reach Redis before its connection closes (bounded).
  await logs.close();
  await backend.close();
}

/** The index of the log files' history, read with the follower's rules. */
function openHistoryIndex(config: Config, log: LogFn) {
  return createHistoryIndex({
    dir: config.logDir,
    followSymlinks: config.logFollowSymlinks,
    parse: { naiveZone: config.naiveZone },
    cacheChunks: config.historyCacheChunks,
    redact: config.redactSecrets,
    log,
    pairTwins: config.logDedupe,
    savePath: config.historyIndexPath,
    build: packageJson.version,
  });
}

/** What an operator should know at start: a weak LOGS_TOKEN, and how to create the first admin token. */
async function warnAtStart(config: Config, backend: Backend, log: LogFn) {
  const tokenWeakness = config.logsToken === null ? null : weakTokenReason(config.logsToken);
  if (tokenWeakness !== null) log("warn", tokenWeakness);
  if ((await backend.store.countAdminTokens()) === 0)
    log("info", "no admin token yet: create the first one with `bun run cli token create --admin`");
}
