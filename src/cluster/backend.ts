/**
 * The cluster backend: one Redis shared by every instance. Buckets, tokens and deliveries live in the Redis
 * relay store; every instance follows the shared delivery stream and the shared log stream (the instance
 * holding the writer lease appends the log directory to it).
 */
import type { Backend, BackendLog } from "../backend/seam.ts";
import type { Config } from "../process/config.ts";
import type { ClusterContext } from "./context.ts";
import { createStreamSource } from "./delivery-stream.ts";
import type { ClusterLogPipeline } from "./log-pipeline.ts";
import { connectRedis, redactRedisUrl, redisExposureWarning } from "./redis.ts";
import { openRedisStore } from "./relay-store.ts";

/** A log or relay cursor ahead of this instance's copy of the shared streams is waited for this long. */
const CURSOR_AHEAD_WAIT_MS = 5_000;

export interface ClusterBackendOptions {
  /** How long to keep trying to reach Redis at start; default connectRedis's. */
  connectDeadlineMs?: number;
  /** Logs this instance's id and what is unsafe about the Redis URL (a server does; a command does not). */
  announce?: boolean;
}

export async function openClusterBackend(
  config: Config,
  settings: NonNullable<Config["cluster"]>,
  log: BackendLog,
  options: ClusterBackendOptions = {},
): Promise<Backend> {
  const redis = await connectRedis({ url: settings.redisUrl, log }, options.connectDeadlineMs);
  const cluster: ClusterContext = { redis, settings, instanceId: crypto.randomUUID() };
  if (options.announce !== false) {
    log(
      "info",
      `cluster mode: instance ${cluster.instanceId} sharing ${redactRedisUrl(settings.redisUrl)} under "${settings.keyPrefix}"`,
    );
    const exposure = redisExposureWarning(settings.redisUrl);
    if (exposure !== null) log("warn", exposure);
  }
  let store: Awaited<ReturnType<typeof openRedisStore>>;
  try {
    store = await openRedisStore(redis, { keyPrefix: settings.keyPrefix, log });
  } catch (error) {
    redis.close();
    throw error;
  }
  const deliveries = createStreamSource(store, log);
  let logs: ClusterLogPipeline | null = null;
  const logStats = () => logs?.stats() ?? null;

  // Response-passthrough answers reach the instance holding the sender's request over pub/sub.
  const answerChannel = `${settings.keyPrefix}passthrough-answers`;
  return {
    store,
    deliveries,
    cursorAheadWaitMs: CURSOR_AHEAD_WAIT_MS,
    answers: {
      publish: (payload) =>
        void redis.send("PUBLISH", [answerChannel, payload]).catch((error: unknown) => {
          log("warn", `passing an answer to the other instances failed: ${String(error)}`);
        }),
      subscribe: (onPayload) => redis.subscribe(answerChannel, onPayload),
    },
    async openLogs(publish) {
      // Loaded only here, for the reason in src/backend/embedded.ts.
      const { createClusterLogPipeline } = await import("./log-pipeline.ts");
      logs = await createClusterLogPipeline(config, publish, log, cluster);
      return logs;
    },
    health: {
      redisUp: () => redis.isUp(),
      report: () => ({ instance: cluster.instanceId, redis: redis.isUp() ? "up" : "down", logs: logStats() }),
      logs: logStats,
    },
    async close() {
      // Closing the store also ends the stream read under way.
      await store.close();
      await deliveries.close();
      redis.close();
    },
  };
}
