/**
 * How a relay store tells the server that tokens or buckets may have changed, without polling (see
 * `RelayStore.watchChanges`): the listeners of one store, and for SQLite the watch on its database file
 * that notices another process's (the CLI's) commits.
 */
import { realpathSync } from "node:fs";
import { basename, dirname } from "node:path";
import {
  IN_CREATE,
  IN_IGNORED,
  IN_MODIFY,
  IN_MOVED_TO,
  IN_ONESHOT,
  IN_ONLYDIR,
  type InotifyRecord,
  openInotify,
} from "../process/inotify.ts";
import type { ChangeOrigin, ChangeWatch } from "./store.ts";

/**
 * Least time between two reports of another process's commits. The server's own commits touch the same
 * file, so under load this bounds the cost to one `PRAGMA data_version` per interval; a CLI revocation still
 * closes its sockets within it.
 */
export const EXTERNAL_CHECK_SPACING_MS = 100;

export interface ChangeListeners {
  watch(listener: (origin: ChangeOrigin) => void, reliable: () => boolean): ChangeWatch;
  notify(origin: ChangeOrigin): void;
}

export function createChangeListeners(): ChangeListeners {
  const listeners = new Set<(origin: ChangeOrigin) => void>();
  return {
    watch(listener, reliable) {
      listeners.add(listener);
      return { reliable, stop: () => void listeners.delete(listener) };
    },
    notify(origin) {
      for (const listener of listeners) listener(origin);
    },
  };
}

export interface FileWatch {
  /** Whether commits are reported now (inotify works here). */
  reliable(): boolean;
  close(): void;
}

/**
 * Calls `changed` at most every EXTERNAL_CHECK_SPACING_MS after the database or its WAL was written (by
 * anyone: `PRAGMA data_version` then tells another process's commit from this one's). The directory is
 * watched one event at a time (IN_ONESHOT) and armed again when the report is made, so a stream of commits
 * costs one event per interval. Returns a watch that is not reliable where inotify is unavailable.
 */
export function watchDatabaseFile(
  path: string,
  changed: () => void,
  log: (level: "info" | "warn" | "error", message: string) => void,
): FileWatch {
  const real = realpathSync(path);
  const dir = dirname(real);
  const names = new Set([basename(real), `${basename(real)}-wal`]);
  let wd = -1;
  let pending = false;
  /** Reading the events failed: nothing more will be reported, the caller polls. */
  let broken = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const arm = () => {
    wd = inotify?.add(dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_ONESHOT) ?? -1;
  };
  const report = () => {
    timer = null;
    arm();
    if (pending) {
      pending = false;
      changed();
    }
  };
  const onRecords = (records: InotifyRecord[]) => {
    let fired = false;
    for (const record of records) {
      if (record.wd !== wd || (record.mask & IN_IGNORED) !== 0) continue;
      fired = true;
      if (names.has(record.name)) pending = true;
    }
    if (fired && timer === null) {
      timer = setTimeout(report, EXTERNAL_CHECK_SPACING_MS);
      timer.unref();
    }
  };
  const inotify = openInotify(
    onRecords,
    (error) => {
      broken = true;
      log(
        "error",
        `watching ${real} for other processes' changes failed (${String(error)}); polling instead`,
      );
    },
    (reason) =>
      log("info", `inotify is not available (${reason}); polling ${real} for other processes' changes`),
  );
  arm();
  if (inotify !== null && wd === -1) log("warn", `cannot watch ${dir} with inotify; polling for changes`);
  return {
    reliable: () => inotify !== null && !broken && wd !== -1,
    close() {
      if (timer !== null) clearTimeout(timer);
      inotify?.close();
    },
  };
}
