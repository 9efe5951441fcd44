/**
 * The log side of the server, wired: follower → hub (→ journal) → Bun topics. One function builds it from
 * the config so the composition root stays short and the log source can change (a Redis stream shared by
 * several instances) without touching the rest.
 */
import type { ClusterContext } from "../cluster/context.ts";
import type { Config } from "../config.ts";
import { createLogHub, type LogHub, type PublishFn } from "../hub/log-hub.ts";
import type { LogEntry } from "./entry.ts";
import { createLogFollower, type LogFollower } from "./follow.ts";
import { type Journal, openJournal } from "./journal.ts";
import { createPositionFile } from "./positions.ts";

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

export interface LogPipeline {
  hub: LogHub;
  journal: Journal;
  follower: LogFollower;
  /** For entries that come from elsewhere than the log files (relayed deliveries). */
  publish(entry: LogEntry): void;
  /** Follows the log directory; resolves after the first pass over it. */
  start(): Promise<void>;
  /** Stops following (and saves positions). */
  stop(): void;
  /** Writes and closes the journal; after stop() and after every socket closed. */
  close(): void;
}

export async function createLogPipeline(
  config: Config,
  publish: PublishFn,
  log: LogFn,
  _cluster: ClusterContext | null,
): Promise<LogPipeline> {
  const journal = openJournal({ ...config.journal, log });
  const hub = createLogHub({
    publish,
    redact: config.redactSecrets,
    journal,
    // Kept well under the backpressure limit, so a lagging socket leaves the topic before Bun would drop it.
    lagBytes: Math.min(config.logLagBytes, config.wsBackpressureLimitBytes / 4),
  });
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
    dir: config.logDir,
    pollIntervalMs: config.logPollIntervalMs,
    parse: { naiveZone: config.naiveZone },
    emit: (entry) => hub.publish(entry),
    onBatchEnd: () => hub.endBatch(),
    positions: createPositionFile(`${config.journal.dir}/positions.json`, log),
    log,
    onDirectoryChange: (exists) =>
      log(
        exists ? "info" : "warn",
        `log directory ${config.logDir} ${exists ? "found" : "not found; waiting for it"}`,
      ),
  });
  return {
    hub,
    journal,
    follower,
    publish: publishEntry,
    start: () => follower.start(),
    stop: () => follower.stop(),
    close: () => journal.close(),
  };
}
