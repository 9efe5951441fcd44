/**
 * createApp(deps): the HTTP routes and nothing else. Everything it needs arrives as an explicit dependency,
 * so tests build the same app main.ts serves.
 */
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import type { z } from "zod";
import { createFileBackfill } from "./history/backfill.ts";
import type { HistoryIndex } from "./history/chunk-index.ts";
import { createDeliveriesRoutes } from "./http/deliveries.ts";
import { addErrorDetail } from "./http/error-detail.ts";
import { createFlowRoutes } from "./http/gws-routes.ts";
import { createHistoryRoutes } from "./http/history-routes.ts";
import { createHostCheck } from "./http/host-check.ts";
import { createLoginRoutes } from "./http/login.ts";
import { type LogsAccess, refusal } from "./http/logs-access.ts";
import { createPageReplayRoutes } from "./http/replay-page.ts";
import type { Journal } from "./logs/journal.ts";
import type { LogHub } from "./logs/log-hub.ts";
import type { FollowerView } from "./logs/pipeline.ts";
import { createLogSession, type LogStreamLimits, type LogStreamStats } from "./logs/socket.ts";
import { filtersOf, logStreamQuerySchema, startOf } from "./logs/stream-query.ts";
import { APP_VERSION, createMcpRoutes, mcpToolRequest } from "./mcp/mcp-routes.ts";
import { createRelayRoutes } from "./relay/admin-routes.ts";
import type { Relay } from "./relay/relay.ts";
import { createSmeeRoutes } from "./relay/smee.ts";
import type { ConnectionLimiter } from "./transport/connections.ts";
import { errorBody, StoreUnavailableError } from "./transport/errors.ts";
import { type AppEnv, upgradeToSession } from "./transport/upgrade.ts";
import { createWebRoutes } from "./web/page-routes.ts";

export interface Lifecycle {
  startedAt: number;
  isShuttingDown(): boolean;
}

export interface AppDeps {
  logs: {
    hub: LogHub;
    follower: FollowerView;
    journal: Journal;
    stats: LogStreamStats;
    limits: LogStreamLimits;
  };
  /** The webhook relay (`/v1/...`); absent in apps built without one. */
  relay?: Relay;
  limiter: ConnectionLimiter;
  openSockets: () => number;
  lifecycle: Lifecycle;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** Who may read logs (LOGS_TOKEN); open when no token is configured. */
  access: LogsAccess;
  /** Mask credentials in what a log reader sees (REDACT_SECRETS). */
  redactSecrets: boolean;
  /** Host names an open log side answers to besides IP literals and localhost (see host-check.ts). */
  allowedHosts: readonly string[];
  /** Serve `/mcp`, the log APIs as MCP tools (MCP_ENABLED). */
  mcpEnabled?: boolean;
  /** The log files' history: index and per-query time budget. */
  history: { index: HistoryIndex; budgetMs: number };
  /** Cluster mode's state for `/health`; absent in the embedded mode. */
  cluster?: () => ClusterHealth;
  /** Probes, metrics and the API reference (src/ops), mounted first; absent in apps built without them. */
  operations?: Hono<AppEnv>;
}

/** Whether this instance can reach the shared Redis, and whatever the shared parts report. */
export interface ClusterHealth {
  instance: string;
  redis: "up" | "down";
  [part: string]: unknown;
}

/** Names the offending parameter of a failed query validation. */
export function describeQueryIssue(error: { issues: readonly z.core.$ZodIssue[] }): {
  field: string;
  message: string;
} {
  const issue = error.issues[0];
  if (issue === undefined) return { field: "query", message: "invalid query" };
  if (issue.code === "unrecognized_keys") {
    const field = issue.keys[0] ?? "query";
    return { field, message: `unknown query parameter "${field}"` };
  }
  const field = String(issue.path[0] ?? "query");
  // Hono hands a repeated parameter over as an array: say so rather than "expected string".
  const repeated = Array.isArray(issue.input);
  return {
    field,
    message: repeated ? `query parameter "${field}" given more than once` : `${field}: ${issue.message}`,
  };
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  if (deps.operations !== undefined) app.route("/", deps.operations);
  app.get("/health", (c) => {
    const shuttingDown = deps.lifecycle.isShuttingDown();
    return c.json(healthReport(deps, shuttingDown), shuttingDown ? 503 : 200);
  });
  guardLogSide(app, deps);
  routeLogApis(app, deps);
  routeLogStream(app, deps);
  if (deps.relay !== undefined) {
    const relayDeps = {
      relay: deps.relay,
      limiter: deps.limiter,
      isShuttingDown: deps.lifecycle.isShuttingDown,
    };
    app.route("/", createRelayRoutes(relayDeps));
    app.route("/", createSmeeRoutes(relayDeps));
  }
  app.route("/", createWebRoutes({ log: deps.log }));
  answerFailures(app, deps);
  return app;
}

/** `/health`: everything the instance reports about itself. */
function healthReport(deps: AppDeps, shuttingDown: boolean) {
  const cluster = deps.cluster?.();
  const journal = deps.logs.journal.stats();
  // Degraded still answers 200: connected clients are served, and every instance shares the same Redis,
  // so taking them all out of a load balancer would help nobody. Inputs answer 503 meanwhile. A journal
  // that cannot be written (a full disk) leaves the live stream working; resuming clients may see gaps.
  const degraded = cluster?.redis === "down" || !journal.writing;
  const follower = deps.logs.follower.stats();
  return {
    status: shuttingDown ? "shutting_down" : degraded ? "degraded" : "ok",
    uptime_s: Math.round((Date.now() - deps.lifecycle.startedAt) / 1000),
    connections: deps.openSockets(),
    log_directory: { exists: follower.directoryExists },
    watched_files: follower.files.map((file) => file.path),
    logs: logSideHealth(deps.logs, follower, journal),
    history: historyHealth(deps.history.index),
    ...(deps.relay === undefined ? {} : { relay: deps.relay.stats() }),
    ...(cluster === undefined ? {} : { cluster }),
  };
}

/**
 * The history index in `/health`: how much of the log directory it covers, what indexing it read since the
 * start (after a restart with the saved index, only what was appended meanwhile) and its saves.
 */
function historyHealth(index: HistoryIndex) {
  const { indexing, saved, ...stats } = index.stats();
  return {
    files: stats.files,
    chunks: stats.chunks,
    indexed_bytes: stats.indexedBytes,
    complete: stats.complete,
    bytes_indexed: indexing.bytesIndexed,
    files_restored: indexing.filesRestored,
    bytes_restored: indexing.bytesRestored,
    files_reindexed: indexing.filesReindexed,
    saved:
      saved === null
        ? null
        : {
            saves: saved.saves,
            save_failures: saved.saveFailures,
            bytes: saved.savedBytes,
            files_left_out: saved.filesLeftOut,
          },
  };
}

/** The log side's part of `/health`: fan-out, the reader's counts, catch-up and the journal. */
function logSideHealth(
  logs: AppDeps["logs"],
  follower: ReturnType<FollowerView["stats"]>,
  journal: ReturnType<Journal["stats"]>,
) {
  const hub = logs.hub.stats();
  return {
    topics: hub.topics,
    subscribers: hub.subscribers,
    entries_seen: hub.entriesSeen,
    entries_published: hub.entriesPublished,
    lines_truncated: follower.linesTruncated,
    truncations_seen: follower.truncationsSeen,
    rotations_seen: follower.rotationsSeen,
    // The processor writes each record twice (text and JSON); how pairing them into one entry went.
    twins:
      follower.twins === null
        ? null
        : {
            pairs_merged: follower.twins.pairsMerged,
            twin_never_came: follower.twins.twinNeverCame,
            late_twins_dropped: follower.twins.lateTwinsDropped,
            released_at_limit: follower.twins.releasedAtLimit,
            held: follower.twins.held,
          },
    catching_up: logs.stats.catchingUp,
    lag_events: hub.lagEvents,
    closed_too_slow: logs.stats.closedTooSlow,
    closed_behind_retention: logs.stats.closedBehindRetention,
    gaps_reported: logs.stats.gapsReported,
    journal_oldest: logs.journal.cursorOf(logs.journal.startSeq()),
    journal_next: logs.journal.nextCursor(),
    journal_writing: journal.writing,
    journal_write_failures: journal.writeFailures,
    journal_unwritten: journal.unwritten,
    journal_not_journaled: journal.notJournaled,
  };
}

/** Host check (when open) and LOGS_TOKEN, in front of the log side's page and APIs. */
function guardLogSide(app: Hono<AppEnv>, deps: AppDeps): void {
  // Without LOGS_TOKEN the log side is open: only to names a rebound DNS name cannot take.
  if (!deps.access.required) {
    const hostCheck = createHostCheck(deps.allowedHosts);
    for (const path of ["/", "/logs", "/logs/*"]) app.use(path, hostCheck);
  }
  // Log access (LOGS_TOKEN): checked before anything else is looked at, so refusals reveal nothing.
  app.route("/", createLoginRoutes(deps.access));
  app.use("/logs/api/*", addErrorDetail);
  app.use("/logs/api/*", deps.access.api);
  // The page's scripts and styles hold no data and are fetched without the page's token: they stay public.
  for (const path of ["/", "/logs"]) app.use(path, deps.access.page);
}

/** History, flows, MCP, and (with a relay) the dashboard's deliveries list and replay. */
function routeLogApis(app: Hono<AppEnv>, deps: AppDeps): void {
  app.route("/", createHistoryRoutes({ ...deps.history, describeIssue: describeQueryIssue }));
  app.route("/", createFlowRoutes({ ...deps.history, access: deps.access }));
  if (deps.mcpEnabled === true)
    app.route(
      "/",
      createMcpRoutes({ access: deps.access, version: APP_VERSION, fetch: mcpToolRequest(app) }),
    );
  if (deps.relay !== undefined) {
    app.route(
      "/",
      createDeliveriesRoutes({
        store: deps.relay.store,
        access: deps.access,
        redact: deps.redactSecrets,
        describeIssue: describeQueryIssue,
      }),
    );
    app.route("/", createPageReplayRoutes({ relay: deps.relay, access: deps.access }));
  }
}

/** `/logs/ws`: access, then the query, then admission, before the upgrade; the session after it. */
function routeLogStream(app: Hono<AppEnv>, deps: AppDeps): void {
  // `tail`/`since` reach into the log files where the journal does not go back far enough.
  const olderThanJournal = createFileBackfill({
    index: deps.history.index,
    journal: deps.logs.journal,
    positions: () => deps.logs.follower.positions(),
    budgetMs: deps.history.budgetMs,
  });
  app.get(
    "/logs/ws",
    async (c, next) => {
      const access = deps.access.check(c, { upgrade: true });
      if (!access.ok) return refusal(c, access);
      await next();
    },
    zValidator("query", logStreamQuerySchema, (result, c) => {
      if (result.success) return;
      const { field, message } = describeQueryIssue(result.error);
      return c.json(errorBody(message, { field }), 400);
    }),
    (c) => {
      if (deps.lifecycle.isShuttingDown()) return c.json(errorBody("Server shutting down"), 503);
      const query = c.req.valid("query");
      const { hub, journal, stats, limits, follower } = deps.logs;
      return upgradeToSession(c, deps.limiter, () =>
        createLogSession(
          {
            hub,
            journal,
            stats,
            limits,
            directoryExists: follower.directoryExists,
            log: deps.log,
            olderThanJournal,
          },
          filtersOf(query),
          startOf(query),
        ),
      );
    },
  );
}

/** A store that is unavailable is a 503 to retry; anything else is logged and a 500. */
function answerFailures(app: Hono<AppEnv>, deps: AppDeps): void {
  app.notFound((c) => c.json(errorBody("Not found"), 404));
  app.onError((error, c) => {
    // Never accept what cannot be stored: the sender (or admin client) retries once the store is back.
    if (error instanceof StoreUnavailableError) {
      c.header("Retry-After", "1");
      return c.json(errorBody("Storage temporarily unavailable; retry shortly"), 503);
    }
    deps.log(
      "error",
      `request ${c.req.method} ${c.req.path} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    return c.json(errorBody("Internal server error"), 500);
  });
}
