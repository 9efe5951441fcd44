/**
 * A small tmpfs for tests that need a disk that fills up for real (ENOSPC mid-write, not a stub). Mounting
 * needs root; elsewhere the tests that use it skip with the reason, and fail under CI (see requirements.ts).
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireTool } from "./requirements.ts";

function run(...command: string[]): boolean {
  return Bun.spawnSync(command, { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

function canMountTmpfs(): boolean {
  const probe = mkdtempSync(join(tmpdir(), "hookstream-tmpfs-probe-"));
  const mounted = run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe);
  if (mounted) run("umount", probe);
  rmSync(probe, { recursive: true, force: true });
  return mounted;
}

export const tmpfsAvailable = requireTool(
  "a tmpfs mount (mount -t tmpfs)",
  canMountTmpfs(),
  "run the tests as root (or in a container with CAP_SYS_ADMIN) so a small tmpfs can be mounted",
);

export interface SmallDisk {
  dir: string;
  /** Fills the disk with a file until a write fails with ENOSPC, leaving `leaveBytes` free afterwards. */
  fill(leaveBytes?: number): void;
  /** Deletes what fill() wrote. */
  free(): void;
  [Symbol.dispose](): void;
}

/** Mounts a tmpfs of `sizeBytes` on `dir` (created when missing); disposing unmounts it (lazily, if busy). */
export function mountSmallDisk(dir: string, sizeBytes: number): SmallDisk {
  mkdirSync(dir, { recursive: true });
  if (!run("mount", "-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", dir))
    throw new Error(`cannot mount a tmpfs on ${dir}`);
  const filler = join(dir, "filler");
  const spare = join(dir, "spare");
  const writeUntilFull = (path: string, limit: number) => {
    const fd = openSync(path, "a");
    const block = Buffer.alloc(4096, 0x2e);
    let written = 0;
    try {
      while (written < limit) written += writeSync(fd, block);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
    } finally {
      closeSync(fd);
    }
  };
  return {
    dir,
    fill(leaveBytes = 0) {
      if (leaveBytes > 0) writeUntilFull(spare, leaveBytes);
      writeUntilFull(filler, Number.POSITIVE_INFINITY);
      if (leaveBytes > 0) unlinkSync(spare);
    },
    free() {
      rmSync(filler, { force: true });
    },
    [Symbol.dispose]() {
      run("umount", "-l", dir);
    },
  };
}
