/**
 * What tells the follower that its directory changed: "this file was written to" or "the listing may have
 * changed" (a file created, deleted or renamed, the directory itself gone or back, events lost).
 *
 * - On Linux, inotify (inotify.ts): every change is reported, so the follower's poll is only a safety net.
 *   The parent directory is watched too, for the log directory's own name: a directory removed and created
 *   again is watched again as soon as it is back.
 * - Elsewhere, or when inotify cannot be set up, Bun's `fs.watch`: a hint only (it drops events), so the
 *   follower keeps polling at its configured interval.
 */
import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";
import {
  IN_ATTRIB,
  IN_CREATE,
  IN_DELETE,
  IN_DELETE_SELF,
  IN_IGNORED,
  IN_MODIFY,
  IN_MOVE_SELF,
  IN_MOVED_FROM,
  IN_MOVED_TO,
  IN_ONLYDIR,
  IN_Q_OVERFLOW,
  type Inotify,
  type InotifyRecord,
  openInotify,
} from "../process/inotify.ts";

export interface DirectoryChangeHandlers {
  /** Bytes were written to the file of this name in the directory. */
  written(name: string): void;
  /** The listing may have changed, or changes were lost: a directory pass is due. */
  listingChanged(): void;
}

export interface DirectoryChangeOptions extends DirectoryChangeHandlers {
  dir: string;
  /** false: fs.watch even where inotify works (LOG_INOTIFY=false, e.g. a network file system). */
  inotify: boolean;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

export interface DirectoryChanges {
  /** Whether every change is reported now (a poll is then only a safety net). */
  reliable(): boolean;
  /** A directory pass found the directory present or missing. */
  directoryChanged(exists: boolean): void;
  /** Stops watching; no descriptor is left open. */
  close(): void;
}

const DIRECTORY_EVENTS =
  IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
/** In the parent: only entries named like the log directory matter. */
const PARENT_EVENTS = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR;
const SELF_GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED;

/** What a batch of records asks for, given the descriptors of the directory's and its parent's watches. */
export interface ChangeSummary {
  /** Names written to, in the order first seen. */
  written: string[];
  listingChanged: boolean;
  /** The directory's watch is gone, or the directory may be back: watch it again. */
  rewatch: boolean;
}

/** Sorts inotify records into what the follower must do; pure. */
export function summariseChanges(
  records: readonly InotifyRecord[],
  watches: { dir: number; parent: number; name: string },
): ChangeSummary {
  const written = new Set<string>();
  let listingChanged = false;
  let rewatch = false;
  for (const { wd, mask, name } of records) {
    if ((mask & IN_Q_OVERFLOW) !== 0) {
      // Events were lost: a pass reads every file whose size moved, and sees any new or gone file.
      listingChanged = true;
    } else if (wd === watches.dir && watches.dir !== -1) {
      if ((mask & SELF_GONE) !== 0) rewatch = true;
      if (mask === IN_MODIFY && name !== "") written.add(name);
      else listingChanged = true;
    } else if (wd === watches.parent && watches.parent !== -1 && name === watches.name) {
      rewatch = true;
      listingChanged = true;
    }
  }
  return { written: [...written], listingChanged: listingChanged || rewatch, rewatch };
}

function watchWithInotify(options: DirectoryChangeOptions): DirectoryChanges | null {
  const { dir, log } = options;
  const watches = { dir: -1, parent: -1, name: basename(dir) };
  let exists = false;
  let warned = false;
  /** Reading the events failed: nothing more will be reported, the poll takes over. */
  let broken = false;

  const watchDir = () => {
    if (watches.dir !== -1) inotify?.remove(watches.dir);
    watches.dir = inotify?.add(dir, DIRECTORY_EVENTS | IN_ONLYDIR) ?? -1;
  };
  const onRecords = (records: InotifyRecord[]) => {
    const summary = summariseChanges(records, watches);
    if (summary.rewatch) watchDir();
    for (const name of summary.written) options.written(name);
    if (summary.listingChanged) options.listingChanged();
  };
  const inotify: Inotify | null = openInotify(
    onRecords,
    (error) => {
      broken = true;
      log("error", `reading inotify events for ${dir} failed (${String(error)}); polling instead`);
    },
    (reason) => log("info", `inotify is not available (${reason}); watching ${dir} with fs.watch`),
  );
  if (inotify === null) return null;
  watches.parent = inotify.add(dirname(dir), PARENT_EVENTS);
  watchDir();

  return {
    reliable: () => !broken && (watches.dir !== -1 || (!exists && watches.parent !== -1)),
    directoryChanged(present) {
      exists = present;
      if (present && watches.dir === -1) watchDir();
      if (present && watches.dir === -1 && !warned) {
        warned = true;
        log("warn", `cannot watch ${dir} with inotify (watch limit?); polling instead`);
      }
    },
    close: () => inotify.close(),
  };
}

/** Bun's fs.watch: a hint only, so a failure to watch is logged and the poll carries on. */
function watchWithFsWatch(options: DirectoryChangeOptions): DirectoryChanges {
  const { dir, log } = options;
  let watcher: FSWatcher | null = null;

  function stop() {
    watcher?.close();
    watcher = null;
  }

  function start() {
    if (watcher !== null) return;
    try {
      watcher = watch(dir, { persistent: false }, (event, name) => {
        if (event === "change" && typeof name === "string") options.written(name);
        else options.listingChanged();
      });
      watcher.on("error", (error) => {
        log("warn", `watching ${dir} failed (${String(error)}); polling continues`);
        stop();
      });
    } catch (error) {
      log("warn", `cannot watch ${dir} (${String(error)}); polling continues`);
    }
  }

  return {
    reliable: () => false,
    directoryChanged: (exists) => (exists ? start() : stop()),
    close: stop,
  };
}

/** Watches `dir` with inotify where it works, else with fs.watch. */
export function watchDirectory(options: DirectoryChangeOptions): DirectoryChanges {
  return (options.inotify ? watchWithInotify(options) : null) ?? watchWithFsWatch(options);
}
