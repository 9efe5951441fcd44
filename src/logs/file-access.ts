/**
 * Which files of the log directory may be read: the one rule for the live follower and the history index.
 *
 * Whoever can write the log directory must not be able to make hookstream read anything else (its own
 * database, /etc/passwd): only regular files whose real path is inside the directory are listed. A symlink is
 * followed when its target is a regular file inside the directory too, or anywhere when the operator opts in
 * (`LOG_FOLLOW_SYMLINKS`).
 *
 * The check is on the file actually opened: a listed file is opened by name and read only if the descriptor's
 * device and inode are the ones the check saw, so a name swapped for a link between the listing and the open
 * reads nothing. Opens are non-blocking, so a name swapped for a FIFO cannot hang the reader.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  realpathSync,
  type Stats,
  statSync,
} from "node:fs";
import { join, sep } from "node:path";
import { isLogFileName } from "./parse.ts";

/** Refused links are logged once each, up to this many (a directory of hostile links must not fill memory). */
const MAX_REFUSALS_LOGGED = 1024;

export interface LogFileEntry {
  /** `dev:ino` of the file that may be read. */
  identity: string;
  path: string;
  size: number;
  mtimeMs: number;
}

export interface LogFileAccessOptions {
  dir: string;
  /** Follow symlinks whatever their target (the operator's opt-in); otherwise only into `dir`. */
  followSymlinks: boolean;
  log: (level: "warn", message: string) => void;
}

export interface LogFileAccess {
  /** The log files that may be read; null when the directory cannot be listed (missing or not a directory). */
  list(): LogFileEntry[] | null;
  /** A read-only descriptor of `path` if it still names the file `identity`; null otherwise. */
  open(path: string, identity: string): number | null;
  /** Bytes [start, end) of the file `identity` through a fresh descriptor; null when `path` no longer names it. */
  read(path: string, identity: string, start: number, end: number): Promise<Uint8Array | null>;
}

export const identityOf = (stat: Stats): string => `${stat.dev}:${stat.ino}`;

export function createLogFileAccess(options: LogFileAccessOptions): LogFileAccess {
  const { dir, followSymlinks, log } = options;
  const refusalsLogged = new Set<string>();

  const refuse = (path: string, why: string) => {
    if (refusalsLogged.has(path) || refusalsLogged.size >= MAX_REFUSALS_LOGGED) return;
    refusalsLogged.add(path);
    log("warn", `not reading ${path}: ${why} (LOG_FOLLOW_SYMLINKS=true allows it)`);
  };

  /** The stat of what `path` may be read as, or null. */
  function readableStat(path: string, realDir: string): Stats | null {
    const link = lstatSync(path);
    if (link.isFile()) return link;
    if (!link.isSymbolicLink()) return null;
    const real = realpathSync(path);
    const target = statSync(real);
    if (!target.isFile()) return null;
    if (!followSymlinks && !real.startsWith(realDir + sep)) {
      refuse(path, `a symlink to ${real}, outside the log directory`);
      return null;
    }
    return target;
  }

  function open(path: string, identity: string): number | null {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      return null;
    }
    const stat = fstatSync(fd);
    if (!stat.isFile() || identityOf(stat) !== identity) {
      closeSync(fd);
      return null;
    }
    return fd;
  }

  return {
    list() {
      let names: string[];
      let realDir: string;
      try {
        realDir = realpathSync(dir);
        names = readdirSync(realDir);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== "ENOENT" && code !== "ENOTDIR") log("warn", `cannot list ${dir}: ${String(error)}`);
        return null;
      }
      const listing: LogFileEntry[] = [];
      for (const name of names) {
        if (!isLogFileName(name)) continue;
        const path = join(dir, name);
        try {
          const stat = readableStat(path, realDir);
          if (stat !== null)
            listing.push({ identity: identityOf(stat), path, size: stat.size, mtimeMs: stat.mtimeMs });
        } catch (error) {
          // Gone between readdir and stat, a dangling symlink or a symlink loop: not a file we can read.
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== "ENOENT" && code !== "ELOOP") log("warn", `cannot stat ${path}: ${String(error)}`);
        }
      }
      return listing;
    },
    open,
    async read(path, identity, start, end) {
      const fd = open(path, identity);
      if (fd === null) return null;
      try {
        // A fresh descriptor: Bun reads `slice(0, n)` of a descriptor from its current position, which is 0 here.
        return await Bun.file(fd).slice(start, end).bytes();
      } finally {
        closeSync(fd);
      }
    },
  };
}
