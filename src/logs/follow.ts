/**
 * The one log follower of the process: watches the log directory and turns every complete line appended to
 * any log file into entries, whatever number of clients listen. Three parts do the work: the per-file tail
 * (file-tail.ts: descriptors, read steps, lines, exact positions), the directory pass (directory-scan.ts:
 * which files, from where, rotations and copies) and the schedule (follow-schedule.ts: watch events, polls,
 * position saving). The twin-pairing window (twins.ts) sits between the tails and `emit`.
 */
import { createCopyTracker } from "./copy-truncate.ts";
import { createDirectoryScan, type DirectoryScan } from "./directory-scan.ts";
import type { LogEntry } from "./entry.ts";
import { createLogFileAccess } from "./file-access.ts";
import { createTailer, type EntryCounts, formatBusy, formatPresent, resumeOffset } from "./file-tail.ts";
import { createFollowSchedule } from "./follow-schedule.ts";
import type { LogFormat, ParseOptions } from "./parse.ts";
import type { PositionStore, SavedPosition } from "./positions.ts";
import { createTwinWindow, type TwinStats, type TwinWindow } from "./twins.ts";

export { MAX_FOLLOWED_FILES } from "./directory-scan.ts";
export { type EntryCounts, MAX_LINE_BYTES, READ_CHUNK_BYTES } from "./file-tail.ts";

export interface FollowerOptions {
  dir: string;
  pollIntervalMs: number;
  /** Follow log-named symlinks out of `dir` too (see file-access.ts); default false. */
  followSymlinks?: boolean;
  /**
   * Learn of changes through inotify where it works (default true), polling only as a safety net; false, or
   * with `followSymlinks` (a link's target elsewhere reports nothing in `dir`): fs.watch and the poll.
   */
  inotify?: boolean;
  parse: ParseOptions;
  emit: (entry: LogEntry) => void;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** Called when the directory appears or disappears. */
  onDirectoryChange?: (exists: boolean) => void;
  /**
   * Called after each synchronous batch of emitted entries (the hub writes its journal then), and after files
   * start or stop being followed. A returned promise holds the reading of that file until it settles
   * (backpressure from a writer that cannot keep up).
   */
  onBatchEnd?: () => void | Promise<void>;
  /** Saved positions: files known from a previous run continue where it stopped instead of at their end. */
  positions?: PositionStore;
  /**
   * The saved positions are where another follower of this directory stopped, at this time (ms), while the
   * files kept changing (a cluster writer taking over after the previous one): a file they do not know, or
   * that shrank below its saved position, and that was modified since then is read from its start instead
   * of its end. Older files keep the first-start rule: what they held before was not wanted then either.
   */
  takeOverSince?: number;
  /** How often changed positions are saved (and always on stop). */
  positionSaveIntervalMs?: number;
  /**
   * Makes `positions()` exact at every batch end: it never runs ahead of what was emitted. A text entry
   * held for its continuation lines (until the end of the read, as without exact positions) and a
   * pretty-printed JSON record still being gathered keep their file's position at their first line.
   */
  exactPositions?: boolean;
  /**
   * Merge the two copies the processor writes of each record (text line and JSON line) into one entry
   * (default true); false streams every file's lines as they are.
   */
  pairTwins?: boolean;
}

export interface FollowedFileInfo {
  path: string;
  offset: number;
  format: LogFormat;
}

export interface FollowerStats {
  directoryExists: boolean;
  files: FollowedFileInfo[];
  linesTruncated: number;
  truncationsSeen: number;
  rotationsSeen: number;
  /** Entries the files' lines made, per file format; `unparsed`: streamed raw (level UNKNOWN). */
  entries: Record<LogFormat, EntryCounts>;
  /** Pairing of the processor's two copies of a record; null when turned off. */
  twins: TwinStats | null;
}

export interface LogFollower {
  /** Resolves after the first directory pass: files present then are followed from their end. */
  start(): Promise<void>;
  stop(): void;
  directoryExists(): boolean;
  stats(): FollowerStats;
  /**
   * Where each followed file continues from after everything emitted so far: exact at a batch end with
   * `exactPositions` (what a writer commits together with the batch), else the read offsets.
   */
  positions(): SavedPosition[];
}

/** What the follower counts, all zero. */
function newCounts() {
  const entries: Record<LogFormat, EntryCounts> = {
    text: { read: 0, unparsed: 0 },
    json: { read: 0, unparsed: 0 },
  };
  return { counters: { linesTruncated: 0, truncationsSeen: 0, rotationsSeen: 0 }, entries };
}

function followerStats(
  directory: DirectoryScan,
  counters: Pick<FollowerStats, "linesTruncated" | "truncationsSeen" | "rotationsSeen">,
  entries: Record<LogFormat, EntryCounts>,
  twins: TwinWindow | null,
): FollowerStats {
  return {
    directoryExists: directory.directoryExists(),
    files: [...directory.files.values()].map((f) => ({ path: f.path, offset: f.offset, format: f.format })),
    ...counters,
    entries: { text: { ...entries.text }, json: { ...entries.json } },
    twins: twins?.stats() ?? null,
  };
}

export function createLogFollower(options: FollowerOptions): LogFollower {
  const { dir, log } = options;
  let started = false;
  let stopped = false;
  const isStopped = () => stopped;
  const batchEnd = options.onBatchEnd ?? (() => {});
  /** Ends a batch and waits if the callback asks to. */
  const endBatch = async (): Promise<void> => {
    const backpressure = batchEnd();
    if (backpressure !== undefined) await backpressure;
  };
  const { counters, entries } = newCounts();
  const twins: TwinWindow | null =
    options.pairTwins === false
      ? null
      : createTwinWindow({
          emit: options.emit,
          // A twin may still be in a file of that format that is being read or has grown unread.
          formatBusy: (format) => formatBusy(directory.files.values(), format),
          formatPresent: (format) => formatPresent(directory.files.values(), format),
          expecting: (format) => schedule.expecting(format),
        });
  const access = createLogFileAccess({ dir, followSymlinks: options.followSymlinks === true, log });
  const copies = createCopyTracker();
  const tailer = createTailer({
    access,
    copies,
    parse: options.parse,
    exact: options.exactPositions === true,
    emit: options.emit,
    twins,
    counters,
    entries,
    log,
    stopped: isStopped,
    batchEnd,
    endBatch,
    progressed: (file) => schedule.progressed(file),
    rescan: () => void directory.scan(),
  });
  const directory = createDirectoryScan({
    dir,
    access,
    copies,
    tailer,
    savedPositions: options.positions?.load() ?? new Map<string, SavedPosition>(),
    takeOverSince: options.takeOverSince,
    counters,
    log,
    stopped: isStopped,
    endBatch,
    directoryChanged: (exists) => schedule.directoryChanged(exists),
  });
  const schedule = createFollowSchedule({
    dir,
    pollIntervalMs: options.pollIntervalMs,
    inotify: options.inotify !== false && options.followSymlinks !== true,
    files: directory.files,
    scan: directory.scan,
    fileNamed: directory.fileNamed,
    pump: tailer.pump,
    twins,
    endBatch,
    stopped: isStopped,
    positions: options.positions,
    positionSaveIntervalMs: options.positionSaveIntervalMs,
    onDirectoryChange: options.onDirectoryChange,
    log,
  });

  return {
    async start() {
      if (started) return;
      started = true;
      schedule.start();
      await directory.scan();
    },
    stop() {
      stopped = true;
      schedule.stop();
      for (const file of directory.files.values()) tailer.closeDescriptor(file);
    },
    directoryExists: directory.directoryExists,
    stats: () => followerStats(directory, counters, entries, twins),
    positions: () => {
      const held = twins?.heldPositions() ?? null;
      return [...directory.files.values()].map((f) => ({
        identity: f.identity,
        path: f.path,
        offset: resumeOffset(f, held),
      }));
    },
  };
}
