/**
 * One running server per data directory. Two processes appending to one journal (or mirroring into it)
 * would interleave their writes and corrupt it, which is easy to do by accident when starting several
 * instances on one machine. The lock is a file holding the owner's pid: a file left by a process that no
 * longer runs is taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

export class DataDirInUseError extends Error {
  constructor(dataDir: string, pid: number) {
    super(
      `DATA_DIR ${dataDir} is in use by process ${pid}; give every instance its own DATA_DIR ` +
        `(delete ${join(dataDir, LOCK_FILE)} if that process is not a hookstream server)`,
    );
  }
}

const LOCK_FILE = "hookstream.pid";

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as { code?: string }).code === "EPERM";
  }
}

/** Takes the directory's lock; returns its release. Throws `DataDirInUseError` when another process holds it. */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
      const owner = Number.parseInt(readFileSync(path, "utf8"), 10);
      // This process (a restart inside it) or a stale file: take it over.
      if (Number.isSafeInteger(owner) && owner !== process.pid && isRunning(owner))
        throw new DataDirInUseError(dataDir, owner);
      rmSync(path, { force: true });
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}
