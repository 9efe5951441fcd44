/**
 * Every process the benchmark starts goes through here, so that all of them — servers, their `tail`
 * children, writers and client processes — are ended when the run ends, also on failure or Ctrl-C.
 * Servers run in their own process group (`detached`) and are ended group-wide, by their own id.
 */
import type { Subprocess } from "bun";
import { descendantsOf } from "./proc.ts";

/** How long a child gets to exit after SIGTERM before it is sent SIGKILL. */
const TERM_GRACE_MS = 3000;

/** Child processes can hold this many descriptors (10,000 connections and then some). */
export const OPEN_FILES_LIMIT = 65_536;

interface Tracked {
  name: string;
  proc: Subprocess;
  group: boolean;
}

const tracked = new Map<number, Tracked>();

export function track(name: string, proc: Subprocess, group: boolean): void {
  tracked.set(proc.pid, { name, proc, group });
  void proc.exited.then(() => {
    if (tracked.get(proc.pid)?.proc === proc) tracked.delete(proc.pid);
  });
}

/**
 * Wraps a command so it runs with a raised open-files limit: `ulimit -n` is per process and inherited, so
 * a shell raises it and then `exec`s the command (same pid). Falls back to the hard limit when raising
 * fails (not root).
 */
export function withOpenFilesLimit(cmd: string[]): string[] {
  return [
    "sh",
    "-c",
    `ulimit -n ${OPEN_FILES_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`,
    "sh",
    ...cmd,
  ];
}

/** The open-files limit of a running process, from /proc/<pid>/limits. */
export async function openFilesLimitOf(pid: number): Promise<string> {
  const text = await Bun.file(`/proc/${pid}/limits`)
    .text()
    .catch(() => "");
  const line = text.split("\n").find((l) => l.startsWith("Max open files"));
  return line?.split(/\s{2,}/)[1] ?? "unknown";
}

function signal(pid: number, group: boolean, sig: NodeJS.Signals): void {
  const victims = group ? [] : descendantsOf(pid);
  try {
    process.kill(group ? -pid : pid, sig);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
  for (const child of victims) {
    try {
      process.kill(child, sig);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  }
}

/** Ends one child (and its group or descendants): SIGTERM, then SIGKILL after a grace period. */
export async function stopChild(proc: Subprocess, graceMs = TERM_GRACE_MS): Promise<number | null> {
  const entry = tracked.get(proc.pid);
  const group = entry?.group ?? false;
  if (proc.exitCode !== null || proc.signalCode !== null) {
    // The leader is gone; its group may still hold children (websocketd's `tail`s).
    if (group) signal(proc.pid, true, "SIGKILL");
    tracked.delete(proc.pid);
    return proc.exitCode;
  }
  signal(proc.pid, group, "SIGTERM");
  const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs));
  const outcome = await Promise.race([proc.exited, timer]);
  if (outcome === "timeout" || group) signal(proc.pid, group, "SIGKILL");
  await proc.exited;
  tracked.delete(proc.pid);
  return proc.exitCode;
}

/** Ends everything still running. Safe to call more than once. */
export async function stopAll(): Promise<void> {
  await Promise.all([...tracked.values()].map(({ proc }) => stopChild(proc, 1000)));
}

/** Synchronous last resort for `process.on("exit")`, where nothing can be awaited. */
export function killAllNow(): void {
  for (const { proc, group } of tracked.values()) signal(proc.pid, group, "SIGKILL");
  tracked.clear();
}

let installed = false;

/** Ends every child on exit, Ctrl-C, SIGTERM and uncaught errors. */
export function installCleanup(onSignal: () => Promise<void>): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAllNow);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: stopping every child process`);
      void onSignal().finally(() => process.exit(130));
    });
  }
}
