/**
 * The log side of the server, wired: follower → hub (→ journal) → Bun topics. One function builds it from
 * the config so the composition root stays short. This is the embedded backend's pipeline; cluster mode's
 * (src/cluster/log-pipeline.ts) shares the hub, the journal and the follower settings built here.
 */
import type { Config } from "../process/config.ts";
import type { LogEntry } from "./entry.ts";
import { createLogFollower, type FollowerOptions, type LogFollower } from "./follow.ts";
import { type Journal, openJournal } from "./journal.ts";
import { createLogHub, type LogHub, type PublishFn } from "./log-hub.ts";
import { createPositionFile } from "./positions.ts";

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

/** What the rest of the server reads of the log files' follower: /health, metrics, sockets, the backfill. */
export type FollowerView = Pick<LogFollower, "directoryExists" | "stats" | "positions">;

export interface LogPipeline {
  hub: LogHub;
  journal: Journal;
  /** In cluster mode: the follower of this instance's current term as writer (empty when it does not write). */
  follower: FollowerView;
  /** For entries that come from elsewhere than the log files (relayed deliveries). */
  publish(entry: LogEntry): void;
  /** Follows the log directory; resolves after the first pass over it. */
  start(): Promise<void>;
  /** Stops following (and saves positions; in cluster mode, releases the writer lease). */
  stop(): void;
  /**
   * After stop() and after every socket closed, before the Redis connection closes: appends the relayed
   * entries still queued for Redis (cluster mode, for at most a few seconds), writes and closes the journal.
   */
  close(): Promise<void>;
}

/** The journal and the hub publishing through `publish`, as every pipeline starts. */
export function openLogHub(
  config: Config,
  publish: PublishFn,
  log: LogFn,
): { hub: LogHub; journal: Journal } {
  const journal = openJournal({ ...config.journal, log });
  const hub = createLogHub({
    publish,
    redact: config.redactSecrets,
    journal,
    // Kept well under the backpressure limit, so a lagging socket leaves the topic before Bun would drop it.
    lagBytes: Math.min(config.logLagBytes, config.wsBackpressureLimitBytes / 4),
    lagTotalBytes: config.lagTotalBytes,
  });
  return { hub, journal };
}

/** How the configured log directory is followed, whoever follows it; the caller adds where entries go. */
export function followerSettings(
  config: Config,
  log: LogFn,
): Pick<
  FollowerOptions,
  | "dir"
  | "pollIntervalMs"
  | "inotify"
  | "followSymlinks"
  | "parse"
  | "pairTwins"
  | "log"
  | "onDirectoryChange"
> {
  return {
    dir: config.logDir,
    pollIntervalMs: config.logPollIntervalMs,
    inotify: config.logInotify,
    followSymlinks: config.logFollowSymlinks,
    parse: { naiveZone: config.naiveZone },
    pairTwins: config.logDedupe,
    log,
    onDirectoryChange: (exists) =>
      log(
        exists ? "info" : "warn",
        `log directory ${config.logDir} ${exists ? "found" : "not found; waiting for it"}`,
      ),
  };
}

export async function createLogPipeline(
  config: Config,
  publish: PublishFn,
  log: LogFn,
): Promise<LogPipeline> {
  const { hub, journal } = openLogHub(config, publish, log);
  // Entries published outside the follower (relay deliveries) end their batch once per microtask.
  let batchEndQueued = false;
  const publishEntry = (entry: LogEntry) => {
    hub.publish(entry);
    if (batchEndQueued) return;
    batchEndQueued = true;
    queueMicrotask(() => {
      batchEndQueued = false;
      hub.endBatch();
    });
  };
  const follower = createLogFollower({
    ...followerSettings(config, log),
    emit: (entry) => hub.publish(entry),
    onBatchEnd: () => hub.endBatch(),
    positions: createPositionFile(`${config.journal.dir}/positions.json`, log),
  });
  return {
    hub,
    journal,
    follower,
    publish: publishEntry,
    start: () => follower.start(),
    stop: () => follower.stop(),
    close: async () => journal.close(),
  };
}
