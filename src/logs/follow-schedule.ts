/**
 * When the follower reads and saves: change events, the directory poll, the end of the pairing window's
 * waits, and the saving of positions. Idle, with inotify, it runs one safety-net poll every half minute.
 *
 * - With inotify (directory-changes.ts) every append and every rename is reported, so the directory poll is
 *   only a safety net, at SAFETY_NET_POLL_MS. With `fs.watch`, a hint that drops events, the directory is
 *   polled every `pollIntervalMs` and a file that grew is re-checked every HOT_POLL_MS while it is hot.
 * - A write to a followed file needs no directory listing: the change event reads it through its descriptor.
 */
import { fstatSync } from "node:fs";
import { type DirectoryChanges, watchDirectory } from "./directory-changes.ts";
import type { FollowedFile } from "./file-tail.ts";
import type { LogFormat } from "./parse.ts";
import type { PositionStore } from "./positions.ts";
import type { TwinWindow } from "./twins.ts";

/**
 * Bun's fs.watch drops some change events (measured: up to half of the last appends of short bursts), so
 * without inotify a file that grew is re-checked every HOT_POLL_MS (one fstat) until it has been quiet for
 * HOT_WINDOW_MS. Idle files cost no timer at all. The same timer lets copies out of the pairing window.
 */
const HOT_POLL_MS = 2;
const HOT_WINDOW_MS = 1_000;
/**
 * The directory poll while inotify reports every change: it only covers what inotify cannot see, writes on
 * another host to a network file system (set LOG_INOTIFY=false there) or a kernel that lost a watch without
 * saying so. One listing every 30 s costs well under a millisecond per 5 s when idle.
 */
export const SAFETY_NET_POLL_MS = 30_000;
/** How often changed positions are saved when the follower's options do not say. */
const POSITION_SAVE_INTERVAL_MS = 1000;

export interface FollowScheduleOptions {
  dir: string;
  /** The directory poll without inotify (the configured LOG_POLL_INTERVAL_MS). */
  pollIntervalMs: number;
  /** Whether to use inotify where it works (see directory-changes.ts). */
  inotify: boolean;
  files: ReadonlyMap<string, FollowedFile>;
  /** A directory pass (see DirectoryScan.scan). */
  scan(): Promise<void>;
  /** The followed file a name in the directory stands for, if any. */
  fileNamed(name: string): FollowedFile | undefined;
  pump(file: FollowedFile): Promise<void>;
  twins: TwinWindow | null;
  endBatch(): Promise<void>;
  stopped(): boolean;
  positions: PositionStore | undefined;
  positionSaveIntervalMs: number | undefined;
  onDirectoryChange: ((exists: boolean) => void) | undefined;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

export interface FollowSchedule {
  /** Starts watching and the directory poll. */
  start(): void;
  /** Ends every timer and the watcher, and saves the positions once more. */
  stop(): void;
  /** The directory appeared (watch it) or disappeared. */
  directoryChanged(exists: boolean): void;
  /** Bytes of a file were consumed: poll it while it is hot, save the positions soon. */
  progressed(file: FollowedFile): void;
  /** A copy started waiting for a twin of this format: poll those files until it is read. */
  expecting(format: LogFormat): void;
}

/** Saves positions a while after they change (so a quiet follower runs no timer), and once more at stop. */
function createPositionSaver(options: FollowScheduleOptions) {
  const { files, twins, log } = options;
  let saveTimer: ReturnType<typeof setTimeout> | null = null;
  let positionsDirty = false;

  /** Saves the read offsets, never past an entry the pairing window still holds. */
  function save() {
    if (options.positions === undefined || !positionsDirty) return;
    positionsDirty = false;
    const held = twins?.heldPositions() ?? null;
    try {
      options.positions.save(
        [...files.values()].map((f) => ({
          identity: f.identity,
          path: f.path,
          offset: Math.min(f.offset, held?.get(f.identity) ?? f.offset),
        })),
      );
    } catch (error) {
      log("warn", `cannot save follower positions: ${String(error)}`);
    }
  }

  return {
    changed() {
      positionsDirty = true;
      if (saveTimer !== null || options.positions === undefined || options.stopped()) return;
      saveTimer = setTimeout(() => {
        saveTimer = null;
        save();
      }, options.positionSaveIntervalMs ?? POSITION_SAVE_INTERVAL_MS);
      saveTimer.unref?.();
    },
    stop() {
      if (saveTimer !== null) clearTimeout(saveTimer);
      // Always at stop: entries let through since the last save move the positions without a read.
      positionsDirty = true;
      save();
    },
  };
}

/**
 * One hot-poll round: reads hot files that grew, resumes paused ones the pairing window lets go, and lets
 * through copies whose wait is over. Whether anything is still hot (false: the hot timer can stop).
 */
function pollHotFiles(
  options: FollowScheduleOptions,
  positionsChanged: () => void,
  reliable: boolean,
): boolean {
  const { files, twins } = options;
  const now = Date.now();
  let anyHot = false;
  for (const file of files.values()) {
    if (file.paused) {
      anyHot = true;
      if (twins !== null && !twins.mustPause(file.format)) {
        file.paused = false;
        void options.pump(file);
      }
      continue;
    }
    if (reliable || file.hotUntil < now || file.fd === null) continue;
    anyHot = true;
    if (file.reading === null && fstatSync(file.fd).size !== file.offset) void options.pump(file);
  }
  // Copies waiting for a twin that will not come are let through here, once their wait is over.
  if (twins !== null && twins.held() > 0) {
    anyHot = true;
    if (twins.release() > 0) {
      // What was held is let through: saved positions may now move past it.
      positionsChanged();
      void options.endBatch();
    }
  }
  return anyHot;
}

export function createFollowSchedule(options: FollowScheduleOptions): FollowSchedule {
  const { files } = options;
  const saver = createPositionSaver(options);
  const changes: DirectoryChanges = watchDirectory({
    dir: options.dir,
    inotify: options.inotify,
    log: options.log,
    written(name) {
      const file = options.fileNamed(name);
      if (file?.ready === true) void options.pump(file);
      else void options.scan();
    },
    listingChanged: () => void options.scan(),
  });
  let pollTimer: ReturnType<typeof setTimeout> | null = null;
  let hotTimer: ReturnType<typeof setInterval> | null = null;

  /** The next directory pass, after the interval that fits the change source now. */
  function schedulePoll() {
    if (options.stopped()) return;
    const interval = changes.reliable()
      ? Math.max(SAFETY_NET_POLL_MS, options.pollIntervalMs)
      : options.pollIntervalMs;
    pollTimer = setTimeout(() => {
      void options.scan().finally(schedulePoll);
    }, interval);
    pollTimer.unref?.();
  }

  function checkHotFiles() {
    if (!pollHotFiles(options, saver.changed, changes.reliable()) && hotTimer !== null) {
      clearInterval(hotTimer);
      hotTimer = null;
    }
  }

  function startHotTimer() {
    if (hotTimer !== null || options.stopped()) return;
    hotTimer = setInterval(checkHotFiles, HOT_POLL_MS);
    hotTimer.unref?.();
  }

  return {
    start: schedulePoll,
    stop() {
      if (pollTimer !== null) clearTimeout(pollTimer);
      if (hotTimer !== null) clearInterval(hotTimer);
      changes.close();
      saver.stop();
    },
    directoryChanged(exists) {
      changes.directoryChanged(exists);
      options.onDirectoryChange?.(exists);
    },
    progressed(file) {
      saver.changed();
      // With inotify the next append is reported; the hot timer only serves paused files and the window.
      if (changes.reliable() && !file.paused && (options.twins?.held() ?? 0) === 0) return;
      file.hotUntil = file.lastActivity + HOT_WINDOW_MS;
      startHotTimer();
    },
    expecting(format) {
      if (changes.reliable()) {
        // The copy's wait ends by the hot timer; the twin's file is read when inotify reports its append.
        startHotTimer();
        return;
      }
      // A watch event for the twin's file may be dropped.
      const now = Date.now();
      for (const file of files.values()) {
        if (file.format === format && file.fd !== null) {
          file.hotUntil = now + HOT_WINDOW_MS;
          startHotTimer();
        }
      }
    },
  };
}
