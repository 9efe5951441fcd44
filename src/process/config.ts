/**
 * Every setting, read once from the environment and validated. `main.ts` is the only caller of
 * `loadConfig(process.env)`; everything else receives the parsed `Config`.
 */
import { isIP } from "node:net";
import { resolve } from "node:path";
import { z } from "zod";
import { LOG_LEVELS } from "./log-line.ts";

const boolean = (fallback: boolean) =>
  z
    .enum(["1", "0", "true", "false", "yes", "no", "on", "off"])
    .default(fallback ? "true" : "false")
    .transform((value) => ["1", "true", "yes", "on"].includes(value));

/** Comma-separated host names (no scheme, port or path), lower-cased. */
const hostNames = z
  .string()
  .transform((value) =>
    value
      .split(",")
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== ""),
  )
  .pipe(
    z.array(
      z
        .string()
        .regex(
          /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/,
          "host names only, like logs.example.com",
        ),
    ),
  );

const integer = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/** `Z` or a fixed offset such as `+02:00`: what a naive timestamp in the logs means. */
const zoneOffset = z
  .string()
  .regex(/^(Z|[+-](0\d|1[0-4]):[0-5]\d)$/, "expected Z or an offset like +02:00")
  .default("Z");

/**
 * How far a live log client may fall behind before it is fed from the journal instead (LOG_LAG_BYTES), and
 * Bun's per-socket send buffer, which stays four times that. A fast client pauses now and then (a collection,
 * a busy core): at 150,000 lines/s 1 MiB is 15 ms of stream. In max-rate runs a Node client that kept up on
 * average fell behind in 13 of 32 runs with 1 MiB, 3 of 11 with 2 MiB and 1 of 29 with 4 MiB, and a run that
 * fell behind delivered a fifth to a third less. A stalled socket still leaves the live topics within 1.25
 * times this (src/stream/lag.ts).
 */
const LOG_LAG_BYTES_DEFAULT = 4 * 1024 * 1024;
/**
 * The relay's room stays 1 MiB: a relay has many subscribers, and when all of them read slower than webhooks
 * arrive each holds its room. With 4 MiB, one instance with 150 saturated subscribers in the cluster bench
 * peaked at 373 MB (126 MB in another run), and lag events did not go away (18 in one run).
 */
const RELAY_LAG_BYTES_DEFAULT = 1024 * 1024;
/**
 * What the live sockets of one stream hold queued together at most (a quarter over it while checks catch
 * up). The rooms above are per socket; without this, 500 slow log clients could hold 5 MiB each. 256 MiB
 * keeps the full room for up to 64 log clients and 256 relay subscribers.
 */
const LAG_TOTAL_BYTES_DEFAULT = 256 * 1024 * 1024;
/**
 * What the sockets of one stream catching up at once hold together, queued and in pages: up to 256 sockets
 * each keep the full 256 KiB of both, past that each one's is its share (src/stream/subscriber.ts).
 */
const CATCH_UP_TOTAL_BYTES_DEFAULT = 128 * 1024 * 1024;
/**
 * The relay's recent deliveries in memory, for sockets catching up (src/relay/recent-deliveries.ts): bodies
 * plus 2 KiB each, the bodies in one buffer of this size. About a second of the relay bench's 7 KB deliveries
 * at 1,000 a second, and eight times the 1 MiB a socket may have queued when it is taken off the live topics,
 * so a socket that lags is read from here unless it stays behind for a while.
 */
const RELAY_RECENT_BYTES_DEFAULT = 8 * 1024 * 1024;

export const configSchema = z
  .object({
    PORT: integer(5000, 0, 65535),
    HOST: z.string().min(1).default("0.0.0.0"),
    DATA_DIR: z.string().min(1).default("./data"),
    LOG_DIR: z.string().min(1).optional(),
    LOG_POLL_INTERVAL_MS: integer(1_000, 20, 60_000),
    LOG_FOLLOW_SYMLINKS: boolean(false),
    LOG_INOTIFY: boolean(true),
    LOG_NAIVE_TIMEZONE: zoneOffset,
    LOG_DEDUPE: boolean(true),
    REDACT_SECRETS: boolean(true),
    MCP_ENABLED: boolean(false),
    MAX_CONNECTIONS: integer(10_000, 1, 1_000_000),
    MAX_CONNECTIONS_PER_IP: integer(1_000, 1, 1_000_000),
    WS_MAX_PAYLOAD_BYTES: integer(64 * 1024, 1024, 16 * 1024 * 1024),
    WS_BACKPRESSURE_LIMIT_BYTES: integer(4 * LOG_LAG_BYTES_DEFAULT, 64 * 1024, 1024 * 1024 * 1024),
    WS_IDLE_TIMEOUT_S: integer(120, 0, 960),
    SHUTDOWN_GRACE_MS: integer(5_000, 0, 120_000),
    JOURNAL_MAX_BYTES: integer(1024 * 1024 * 1024, 1024 * 1024, 1024 * 1024 * 1024 * 1024),
    JOURNAL_SEGMENT_BYTES: integer(32 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    LOG_LAG_BYTES: integer(LOG_LAG_BYTES_DEFAULT, 16 * 1024, 1024 * 1024 * 1024),
    WS_QUEUED_TOTAL_BYTES: integer(LAG_TOTAL_BYTES_DEFAULT, 1024 * 1024, 64 * 1024 * 1024 * 1024),
    CATCH_UP_TOTAL_BYTES: integer(CATCH_UP_TOTAL_BYTES_DEFAULT, 64 * 1024, 64 * 1024 * 1024 * 1024),
    LOG_STALL_TIMEOUT_MS: integer(60_000, 100, 3_600_000),
    HISTORY_BUDGET_MS: integer(2_000, 10, 600_000),
    HISTORY_CACHE_CHUNKS: integer(32, 1, 100_000),
    LOGS_TOKEN: z.string().min(16, "at least 16 characters").max(512).optional(),
    ALLOWED_HOSTS: hostNames.optional(),
    LOG_FORMAT: z.enum(["text", "json"]).default("text"),
    LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
    METRICS_TOKEN: z.string().min(16, "at least 16 characters").max(512).optional(),
    PUBLIC_URL: z
      .url({ protocol: /^https?$/ })
      .transform((url) => url.replace(/\/+$/, ""))
      .optional(),
    MAX_BODY_BYTES: integer(26_214_400, 0, 100 * 1024 * 1024),
    RELAY_AUTH_TIMEOUT_MS: integer(10_000, 100, 300_000),
    RELAY_PING_INTERVAL_MS: integer(30_000, 100, 50_000),
    RELAY_RECHECK_MS: integer(1_000, 50, 60_000),
    RELAY_AUTH_FAILURES_PER_MINUTE: integer(10, 1, 10_000),
    RELAY_RETENTION_HOURS: integer(168, 0, 24 * 365 * 10),
    RELAY_RETENTION_COUNT: integer(1_000_000, 0, 1_000_000_000),
    RELAY_PRUNE_INTERVAL_MS: integer(60_000, 100, 3_600_000),
    RELAY_MAX_DATABASE_BYTES: integer(0, 0, 1024 ** 5),
    RELAY_LAG_BYTES: integer(RELAY_LAG_BYTES_DEFAULT, 16 * 1024, 1024 * 1024 * 1024),
    RELAY_RECENT_BYTES: integer(RELAY_RECENT_BYTES_DEFAULT, 0, 1024 * 1024 * 1024),
    RELAY_STALL_TIMEOUT_MS: integer(60_000, 100, 3_600_000),
    RELAY_DURABILITY: z.enum(["full", "normal"]).default("full"),
    REDIS_URL: z.url({ protocol: /^rediss?$/, error: "expected redis://host:port or rediss://…" }).optional(),
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9:_.-]{1,64}$/, "letters, digits and : _ . - only")
      .default("hookstream:"),
    CLUSTER_LOG_STREAM_MAX_ENTRIES: integer(1_000_000, 1_000, 1_000_000_000),
    CLUSTER_LOG_STREAM_FORMAT: z.enum(["batches", "entries"]).default("batches"),
    CLUSTER_LEASE_MS: integer(10_000, 1_000, 300_000),
    REUSE_PORT: boolean(false),
  })
  .transform((env) => {
    const dataDir = resolve(env.DATA_DIR);
    return {
      port: env.PORT,
      host: env.HOST,
      dataDir,
      logDir: resolve(env.LOG_DIR ?? `${dataDir}/logs`),
      logPollIntervalMs: env.LOG_POLL_INTERVAL_MS,
      /** Read log-named symlinks whose target is outside the log directory (otherwise only links into it). */
      logFollowSymlinks: env.LOG_FOLLOW_SYMLINKS,
      logInotify: env.LOG_INOTIFY,
      naiveZone: env.LOG_NAIVE_TIMEZONE,
      /** One entry per record the processor logged, whichever of its two copies is read first. */
      logDedupe: env.LOG_DEDUPE,
      redactSecrets: env.REDACT_SECRETS,
      /** `/mcp`: the read-only log APIs as MCP tools. */
      mcpEnabled: env.MCP_ENABLED,
      maxConnections: env.MAX_CONNECTIONS,
      maxConnectionsPerIp: env.MAX_CONNECTIONS_PER_IP,
      wsMaxPayloadBytes: env.WS_MAX_PAYLOAD_BYTES,
      wsBackpressureLimitBytes: env.WS_BACKPRESSURE_LIMIT_BYTES,
      wsIdleTimeoutSeconds: env.WS_IDLE_TIMEOUT_S,
      shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
      /** Several processes may listen on the same port (Linux spreads connections over them). */
      reusePort: env.REUSE_PORT,
      /** null: the embedded single-process mode (SQLite, in-process fan-out). */
      cluster:
        env.REDIS_URL === undefined
          ? null
          : {
              redisUrl: env.REDIS_URL,
              keyPrefix: env.REDIS_KEY_PREFIX,
              /** The shared log stream keeps about this many newest entries. */
              logStreamMaxEntries: env.CLUSTER_LOG_STREAM_MAX_ENTRIES,
              /**
               * One stream entry per log entry instead of per batch: what instances of a version before batches
               * read, while a rolling upgrade replaces them.
               */
              logStreamOneEntryEach: env.CLUSTER_LOG_STREAM_FORMAT === "entries",
              /** The log writer's lease: another instance takes over this long after the writer dies. */
              leaseMs: env.CLUSTER_LEASE_MS,
            },
      journal: {
        dir: `${dataDir}/journal`,
        maxBytes: env.JOURNAL_MAX_BYTES,
        segmentBytes: Math.min(env.JOURNAL_SEGMENT_BYTES, env.JOURNAL_MAX_BYTES),
      },
      logLagBytes: env.LOG_LAG_BYTES,
      /** What the live sockets of one stream may hold queued together (log stream and relay alike). */
      lagTotalBytes: env.WS_QUEUED_TOTAL_BYTES,
      /** What the sockets of one stream catching up at once may hold together (log stream and relay alike). */
      catchUpTotalBytes: env.CATCH_UP_TOTAL_BYTES,
      logStallTimeoutMs: env.LOG_STALL_TIMEOUT_MS,
      logsToken: env.LOGS_TOKEN ?? null,
      /**
       * Names besides IP literals and localhost an open log side answers to: ALLOWED_HOSTS, PUBLIC_URL's host
       * and HOST when it is a name.
       */
      allowedHosts: [
        ...(env.ALLOWED_HOSTS ?? []),
        ...(isIP(env.HOST) === 0 ? [env.HOST.toLowerCase()] : []),
        ...(env.PUBLIC_URL === undefined ? [] : [new URL(env.PUBLIC_URL).hostname]),
      ],
      historyBudgetMs: env.HISTORY_BUDGET_MS,
      historyCacheChunks: env.HISTORY_CACHE_CHUNKS,
      /** The history index kept between runs, beside the journal. */
      historyIndexPath: `${dataDir}/history.index`,
      logFormat: env.LOG_FORMAT,
      /** The least severe of the server's own lines that is written. */
      logLevel: env.LOG_LEVEL,
      /** Bearer token for /metrics; null: loopback clients only. */
      metricsToken: env.METRICS_TOKEN ?? null,
      relay: {
        /** null: `http://localhost:<bound port>`. */
        publicUrl: env.PUBLIC_URL ?? (env.PORT === 0 ? null : `http://localhost:${env.PORT}`),
        databasePath: `${dataDir}/hookstream.db`,
        maxBodyBytes: env.MAX_BODY_BYTES,
        authTimeoutMs: env.RELAY_AUTH_TIMEOUT_MS,
        pingIntervalMs: env.RELAY_PING_INTERVAL_MS,
        recheckMs: env.RELAY_RECHECK_MS,
        authFailuresPerMinute: env.RELAY_AUTH_FAILURES_PER_MINUTE,
        retentionMs: env.RELAY_RETENTION_HOURS * 3_600_000,
        retentionCount: env.RELAY_RETENTION_COUNT,
        pruneIntervalMs: env.RELAY_PRUNE_INTERVAL_MS,
        /** 0: no cap but the disk. */
        maxDatabaseBytes: env.RELAY_MAX_DATABASE_BYTES,
        // Kept well under the backpressure limit, so a lagging socket leaves the live topics before Bun
        // would close it.
        lagBytes: Math.min(env.RELAY_LAG_BYTES, env.WS_BACKPRESSURE_LIMIT_BYTES / 4),
        lagTotalBytes: env.WS_QUEUED_TOTAL_BYTES,
        catchUpTotalBytes: env.CATCH_UP_TOTAL_BYTES,
        recentBytes: env.RELAY_RECENT_BYTES,
        stallTimeoutMs: env.RELAY_STALL_TIMEOUT_MS,
        durability: env.RELAY_DURABILITY,
      },
    };
  });

export type Config = z.output<typeof configSchema>;

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

/** Empty strings count as unset, as most deploy tools write them for "no value". */
export function loadConfig(env: Record<string, string | undefined>): ConfigResult {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ""),
  );
  const result = configSchema.safeParse(present);
  if (result.success) return { ok: true, config: result.data };
  return {
    ok: false,
    problems: result.error.issues.map(
      (issue) => `${issue.path.join(".") || "environment"}: ${issue.message}`,
    ),
  };
}
