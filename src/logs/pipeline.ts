/**
 * The log side of the server, wired: follower → hub (→ journal) → Bun topics. One function builds it from
 * the config so the composition root stays short and the log source can change without touching the rest.
 *
 * Cluster mode (a ClusterContext): the instance holding the writer lease follows the directory into the
 * shared Redis stream, and every instance mirrors that stream into its journal and hub. Clients see the
 * same entries, cursors and backfill on every instance.
 */
import { statSync } from "node:fs";
import type { ClusterContext } from "../cluster/context.ts";
import { createLogAppender } from "../cluster/log-append.ts";
import { createLogMirror } from "../cluster/log-mirror.ts";
import { logKeys } from "../cluster/log-scripts.ts";
import { createLogWriter } from "../cluster/log-writer.ts";
import type { Config } from "../process/config.ts";
import type { LogEntry } from "./entry.ts";
import { createLogFollower, type FollowerStats, type LogFollower } from "./follow.ts";
import { type Journal, openJournal } from "./journal.ts";
import { createLogHub, type LogHub, type PublishFn } from "./log-hub.ts";
import { createPositionFile } from "./positions.ts";
import { serializeEntry } from "./serialize.ts";

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

/** Cluster mode's state, for `/health`. */
export interface LogClusterStats {
  instanceId: string;
  /** Whether this instance's last Redis command got through. */
  redisUp: boolean;
  /** Whether this instance holds the writer lease and follows the log directory. */
  writer: boolean;
  /** Instance id of the lease holder as last seen, or null when no instance writes. */
  leaseHolder: string | null;
  /** The shared epoch this instance's journal follows. */
  epoch: string;
  /** Seq of the newest entry in this instance's journal. */
  mirroredSeq: number;
  /** Seq of the newest entry in the shared stream, as last seen. */
  streamSeq: number;
  /** streamSeq − mirroredSeq: entries the stream has that this instance has not streamed yet. */
  mirrorLag: number;
  /** Entries this instance appended as writer. */
  entriesWritten: number;
  writerTermsStarted: number;
  /** Terms as writer that ended by a failure (Redis away, lease lost). */
  writerTermsLost: number;
  /** Relayed entries waiting for Redis. */
  relayQueued: number;
  relayDropped: number;
  /** Times this journal restarted to follow the stream (another epoch, trimmed past its end). */
  journalResets: number;
  malformedEntries: number;
}

export interface LogPipeline {
  hub: LogHub;
  journal: Journal;
  /** In cluster mode: the follower of this instance's current term as writer (empty when it does not write). */
  follower: LogFollower;
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
  /** Cluster mode's state; null in single mode. */
  stats(): LogClusterStats | null;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    throw error;
  }
}

export async function createLogPipeline(
  config: Config,
  publish: PublishFn,
  log: LogFn,
  cluster: ClusterContext | null,
): Promise<LogPipeline> {
  const journal = openJournal({ ...config.journal, log });
  const hub = createLogHub({
    publish,
    redact: config.redactSecrets,
    journal,
    // Kept well under the backpressure limit, so a lagging socket leaves the topic before Bun would drop it.
    lagBytes: Math.min(config.logLagBytes, config.wsBackpressureLimitBytes / 4),
  });
  const onDirectoryChange = (exists: boolean) =>
    log(
      exists ? "info" : "warn",
      `log directory ${config.logDir} ${exists ? "found" : "not found; waiting for it"}`,
    );
  if (cluster !== null) return createClusterPipeline(config, log, cluster, hub, journal, onDirectoryChange);

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
    followSymlinks: config.logFollowSymlinks,
    parse: { naiveZone: config.naiveZone },
    pairTwins: config.logDedupe,
    emit: (entry) => hub.publish(entry),
    onBatchEnd: () => hub.endBatch(),
    positions: createPositionFile(`${config.journal.dir}/positions.json`, log),
    log,
    onDirectoryChange,
  });
  return {
    hub,
    journal,
    follower,
    publish: publishEntry,
    start: () => follower.start(),
    stop: () => follower.stop(),
    close: async () => journal.close(),
    stats: () => null,
  };
}

function createClusterPipeline(
  config: Config,
  log: LogFn,
  cluster: ClusterContext,
  hub: LogHub,
  journal: Journal,
  onDirectoryChange: (exists: boolean) => void,
): LogPipeline {
  const { redis, settings, instanceId } = cluster;
  const keys = logKeys(settings.keyPrefix);
  // The stream holds entries as streamed: masked by the instance that appends them.
  const serialize = (entry: LogEntry) => serializeEntry(entry, config.redactSecrets);
  const mirror = createLogMirror({ redis, keys, journal, hub, log });
  const minSeq = () => journal.endSeq() - 1;
  const appender = createLogAppender({
    redis,
    keys,
    instanceId,
    maxEntries: settings.logStreamMaxEntries,
    minSeq,
    log,
  });
  const writer = createLogWriter({
    redis,
    keys,
    instanceId,
    leaseMs: settings.leaseMs,
    maxEntries: settings.logStreamMaxEntries,
    dir: config.logDir,
    canFollow: () => isDirectory(config.logDir),
    createFollower: (hooks) =>
      createLogFollower({
        dir: config.logDir,
        pollIntervalMs: config.logPollIntervalMs,
        followSymlinks: config.logFollowSymlinks,
        parse: { naiveZone: config.naiveZone },
        pairTwins: config.logDedupe,
        emit: hooks.emit,
        onBatchEnd: hooks.onBatchEnd,
        positions: hooks.positions,
        ...(hooks.takeOverSince === undefined ? {} : { takeOverSince: hooks.takeOverSince }),
        exactPositions: true,
        log,
        onDirectoryChange,
      }),
    minSeq,
    serialize,
    log,
  });

  // What clients and /health see: the writer's own view, else what the writer last said, else our own.
  const directoryExists = () =>
    writer.follower()?.directoryExists() ?? writer.stats().writerSeesDirectory ?? isDirectory(config.logDir);
  const follower: LogFollower = {
    start: () => writer.start(),
    stop: () => writer.stop(),
    directoryExists,
    stats(): FollowerStats {
      return (
        writer.follower()?.stats() ?? {
          directoryExists: directoryExists(),
          files: [],
          linesTruncated: 0,
          truncationsSeen: 0,
          rotationsSeen: 0,
          entries: { text: { read: 0, unparsed: 0 }, json: { read: 0, unparsed: 0 } },
          twins: null,
        }
      );
    },
    positions: () => writer.follower()?.positions() ?? [],
  };

  return {
    hub,
    journal,
    follower,
    publish: (entry) => appender.append(serialize(entry)),
    async start() {
      await mirror.start();
      await writer.start();
    },
    stop: () => writer.stop(),
    async close() {
      // The journal is this instance's copy only: it closes at once, the relayed entries still go to Redis.
      mirror.close();
      journal.close();
      await appender.close();
    },
    stats() {
      const written = writer.stats();
      const mirrored = mirror.stats();
      const relayed = appender.stats();
      const streamSeq = Math.max(written.streamSeq, mirrored.mirroredSeq);
      return {
        instanceId,
        redisUp: redis.isUp(),
        writer: written.writer,
        leaseHolder: written.leaseHolder,
        epoch: mirrored.epoch,
        mirroredSeq: mirrored.mirroredSeq,
        streamSeq,
        mirrorLag: streamSeq - mirrored.mirroredSeq,
        entriesWritten: written.entriesWritten,
        writerTermsStarted: written.termsStarted,
        writerTermsLost: written.termsLost,
        relayQueued: relayed.queued,
        relayDropped: relayed.dropped,
        journalResets: mirrored.resets,
        malformedEntries: mirrored.malformedEntries,
      };
    },
  };
}
