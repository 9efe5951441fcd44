/**
 * When the follower reads and saves: watch events, the hot-file poll, the directory poll, the end of the
 * pairing window's waits, and the saving of positions. Idle, it runs the directory poll only.
 *
 * - `fs.watch` is only a hint; a cheap poll of the directory is the safety net, so a missed event delays a
 *   line by at most one poll interval and never stalls the stream.
 * - A write to a followed file needs no directory listing: the watch event reads it through its descriptor.
 */
import { type FSWatcher, fstatSync, watch } from "node:fs";
import type { FollowedFile } from "./file-tail.ts";
import type { LogFormat } from "./parse.ts";
import type { PositionStore } from "./positions.ts";
import type { TwinWindow } from "./twins.ts";

/**
 * Bun's fs.watch drops some change events (measured: up to half of the last appends of short bursts), so a file
 * that grew is re-checked every HOT_POLL_MS (one fstat) until it has been quiet for HOT_WINDOW_MS. Idle files
 * cost no timer at all.
 */
const HOT_POLL_MS = 2;
const HOT_WINDOW_MS = 1_000;
/** How often changed positions are saved when the follower's options do not say. */
const POSITION_SAVE_INTERVAL_MS = 1000;

export interface FollowScheduleOptions {
  dir: string;
  pollIntervalMs: number;
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
  /** Starts the directory poll. */
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

/** The directory's watcher: a hint only, so a failure to watch is logged and the poll carries on. */
function createDirectoryWatcher(options: FollowScheduleOptions) {
  const { dir, log } = options;
  let watcher: FSWatcher | null = null;

  function onWatchEvent(event: string, name: string | Buffer | null) {
    const file = typeof name === "string" ? options.fileNamed(name) : undefined;
    if (event === "change" && file !== undefined && file.ready) void options.pump(file);
    else void options.scan();
  }

  function stop() {
    watcher?.close();
    watcher = null;
  }

  function start() {
    if (watcher !== null || options.stopped()) return;
    try {
      watcher = watch(dir, { persistent: false }, (event, name) => onWatchEvent(event, name));
      watcher.on("error", (error) => {
        log("warn", `watching ${dir} failed (${String(error)}); polling continues`);
        stop();
      });
    } catch (error) {
      log("warn", `cannot watch ${dir} (${String(error)}); polling every ${options.pollIntervalMs} ms`);
    }
  }

  return { start, stop };
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
function pollHotFiles(options: FollowScheduleOptions, positionsChanged: () => void): boolean {
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
    if (file.hotUntil < now || file.fd === null) continue;
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
  const watcher = createDirectoryWatcher(options);
  const saver = createPositionSaver(options);
  let pollTimer: ReturnType<typeof setInterval> | null = null;
  let hotTimer: ReturnType<typeof setInterval> | null = null;

  function checkHotFiles() {
    if (!pollHotFiles(options, saver.changed) && hotTimer !== null) {
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
    start() {
      pollTimer = setInterval(() => void options.scan(), options.pollIntervalMs);
      pollTimer.unref?.();
    },
    stop() {
      if (pollTimer !== null) clearInterval(pollTimer);
      if (hotTimer !== null) clearInterval(hotTimer);
      watcher.stop();
      saver.stop();
    },
    directoryChanged(exists) {
      if (exists) watcher.start();
      else watcher.stop();
      options.onDirectoryChange?.(exists);
    },
    progressed(file) {
      file.hotUntil = file.lastActivity + HOT_WINDOW_MS;
      startHotTimer();
      saver.changed();
    },
    expecting(format) {
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
