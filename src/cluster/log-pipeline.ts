/**
 * The log side in cluster mode: the instance holding the writer lease follows the directory into the shared
 * Redis stream, and every instance mirrors that stream into its journal and hub. Clients see the same
 * entries, cursors and backfill on every instance.
 */
import { statSync } from "node:fs";
import type { LogClusterStats } from "../backend/seam.ts";
import type { LogEntry } from "../logs/entry.ts";
import { createLogFollower, type FollowerStats } from "../logs/follow.ts";
import type { PublishFn } from "../logs/log-hub.ts";
import { type FollowerView, followerSettings, type LogPipeline, openLogHub } from "../logs/pipeline.ts";
import { serializeEntry } from "../logs/serialize.ts";
import type { Config } from "../process/config.ts";
import type { ClusterContext } from "./context.ts";
import { createLogAppender } from "./log-append.ts";
import { createLogMirror } from "./log-mirror.ts";
import { logKeys } from "./log-scripts.ts";
import { createLogWriter } from "./log-writer.ts";

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

export interface ClusterLogPipeline extends LogPipeline {
  stats(): LogClusterStats;
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

/** The follower stats of an instance that does not write: no file followed, nothing read. */
const notWriting = (directoryExists: boolean): FollowerStats => ({
  directoryExists,
  files: [],
  linesTruncated: 0,
  truncationsSeen: 0,
  rotationsSeen: 0,
  entries: { text: { read: 0, unparsed: 0 }, json: { read: 0, unparsed: 0 } },
  twins: null,
});

export async function createClusterLogPipeline(
  config: Config,
  publish: PublishFn,
  log: LogFn,
  cluster: ClusterContext,
): Promise<ClusterLogPipeline> {
  const { hub, journal } = openLogHub(config, publish, log);
  const { redis, settings, instanceId } = cluster;
  const keys = logKeys(settings.keyPrefix);
  // The stream holds entries as streamed: masked by the instance that appends them, and without a cursor
  // (each mirror sets its own), so that a mirror may publish their JSON without parsing it.
  const serialize = (entry: LogEntry) =>
    serializeEntry(
      entry.cursor === undefined ? entry : { ...entry, cursor: undefined },
      config.redactSecrets,
    );
  const mirror = createLogMirror({ redis, keys, journal, hub, log });
  const minSeq = () => journal.endSeq() - 1;
  const appender = createLogAppender({
    redis,
    keys,
    instanceId,
    maxEntries: settings.logStreamMaxEntries,
    masked: config.redactSecrets,
    oneStreamEntryEach: settings.logStreamOneEntryEach,
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
        ...followerSettings(config, log),
        emit: hooks.emit,
        onBatchEnd: hooks.onBatchEnd,
        positions: hooks.positions,
        ...(hooks.takeOverSince === undefined ? {} : { takeOverSince: hooks.takeOverSince }),
        exactPositions: true,
      }),
    minSeq,
    serialize,
    masked: config.redactSecrets,
    oneStreamEntryEach: settings.logStreamOneEntryEach,
    log,
  });

  // What clients and /health see: the writer's own view, else what the writer last said, else our own.
  const directoryExists = () =>
    writer.follower()?.directoryExists() ?? writer.stats().writerSeesDirectory ?? isDirectory(config.logDir);
  /** The writer lease's release, sent by stop() and awaited by close(). */
  let leaseReleased: Promise<void> = Promise.resolve();
  const follower: FollowerView = {
    directoryExists,
    stats: () => writer.follower()?.stats() ?? notWriting(directoryExists()),
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
    stop() {
      leaseReleased = writer.stop();
    },
    async close() {
      // The journal is this instance's copy only: it closes at once, the relayed entries still go to Redis.
      mirror.close();
      journal.close();
      // The release was sent at stop(); the connection closes right after this, which would fail it.
      await Promise.all([appender.close(), leaseReleased]);
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
