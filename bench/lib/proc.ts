/**
 * Process statistics from /proc, for one process or a process and all its descendants (websocketd forks a
 * `tail` per connection; frontail runs one `tail`):
 * - memory: VmRSS, and PSS (shared pages split between the processes sharing them) for process trees,
 *   where summed RSS would count libc a thousand times;
 * - CPU: the nanosecond run time of every thread (/proc/<pid>/task/<tid>/schedstat, remembered for threads
 *   that exit) plus the utime + stime of children already reaped; /proc/<pid>/stat alone counts 10 ms ticks,
 *   too coarse for idle CPU.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux this runs on (`getconf CLK_TCK`). */
export const CLOCK_TICKS_PER_SECOND = 100;

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    // The process exited between listing and reading: it holds nothing any more.
    return null;
  }
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | null {
  const text = readText(`/proc/${pid}/stat`);
  if (text === null) return null;
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

export function parentOf(pid: number): number | null {
  const fields = statFields(pid);
  return fields === null ? null : Number(fields[1]);
}

/** Every live descendant of `pid` (children, grandchildren, ...). */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const child = Number(name);
    if (!Number.isInteger(child) || child <= 0) continue;
    const parent = parentOf(child);
    if (parent === null) continue;
    const list = children.get(parent);
    if (list) list.push(child);
    else children.set(parent, [child]);
  }
  const found: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const next = stack.pop() as number;
    for (const child of children.get(next) ?? []) {
      found.push(child);
      stack.push(child);
    }
  }
  return found;
}

/** VmRSS of one process in KiB; 0 when it is gone. */
export function rssKb(pid: number): number {
  const text = readText(`/proc/${pid}/status`);
  const match = text === null ? null : /VmRSS:\s+(\d+) kB/.exec(text);
  return match ? Number(match[1]) : 0;
}

/** PSS of one process in KiB (its share of pages it shares with others); 0 when it is gone. */
export function pssKb(pid: number): number {
  const text = readText(`/proc/${pid}/smaps_rollup`);
  const match = text === null ? null : /^Pss:\s+(\d+) kB/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/**
 * Schedstat fields last read per thread, by process: a thread that exits takes its schedstat with it (Bun's
 * JIT workers come and go), which made a sum over live threads go backwards (-13 ms over an idle 5 s,
 * measured). An exited thread keeps counting with what it had when last read.
 */
const threadSched = new Map<number, Map<string, [run: number, queued: number]>>();

/** A schedstat field summed over every thread the process has had, in seconds (0: run, 1: queued). */
function threadSchedSeconds(pid: number, field: 0 | 1): number {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  let seen = threadSched.get(pid);
  if (seen === undefined) {
    seen = new Map();
    threadSched.set(pid, seen);
  }
  for (const tid of tids) {
    const text = readText(`/proc/${pid}/task/${tid}/schedstat`);
    if (text === null) continue;
    const [run, queued] = text.split(" ");
    seen.set(tid, [Number(run), Number(queued)]);
  }
  let ns = 0;
  for (const value of seen.values()) ns += value[field];
  return ns / 1e9;
}

/**
 * CPU seconds of one process: every thread's run time (the ones that exited since an earlier call as last
 * read), plus the children it has already reaped.
 */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
  const reapedTicks = fields === null ? 0 : Number(fields[13]) + Number(fields[14]);
  return threadSchedSeconds(pid, 0) + reapedTicks / CLOCK_TICKS_PER_SECOND;
}

/**
 * Seconds the process's live threads were runnable but waiting for a CPU (the run queue): on a busy machine
 * a server that is not using a whole core may simply be waiting its turn.
 */
export const runQueueSeconds = (pid: number): number => threadSchedSeconds(pid, 1);

export interface TreeStats {
  processes: number;
  /** VmRSS of the process itself. */
  rssKb: number;
  /** PSS summed over the process and its descendants. */
  treePssKb: number;
  /** CPU seconds of the process and its descendants. */
  cpuSeconds: number;
}

export function treeStats(pid: number): TreeStats {
  const pids = [pid, ...descendantsOf(pid)];
  let pss = 0;
  let cpu = 0;
  for (const p of pids) {
    pss += pssKb(p);
    cpu += cpuSeconds(p);
  }
  return { processes: pids.length, rssKb: rssKb(pid), treePssKb: pss, cpuSeconds: cpu };
}

/** The memory figure reported for a server: VmRSS for one process, summed PSS for a tree of them. */
export function memoryKb(stats: TreeStats, forks: boolean): number {
  return forks ? stats.treePssKb : stats.rssKb;
}

export interface RssSampler {
  /** Stops sampling and returns the highest value seen, in KiB. */
  stop(): number;
}

/**
 * Samples the memory of `pid` every `intervalMs` and keeps the peak: VmRSS, or summed PSS of the process
 * and its descendants when `tree`.
 */
export function sampleRss(pid: number, tree: boolean, intervalMs = 50): RssSampler {
  let peak = 0;
  const sample = () => {
    const value = tree ? treeStats(pid).treePssKb : rssKb(pid);
    if (value > peak) peak = value;
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  bun: string;
  node: string | null;
}

export function machineInfo(): MachineInfo {
  const cpuinfo = readText("/proc/cpuinfo") ?? "";
  const meminfo = readText("/proc/meminfo") ?? "";
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0);
  const node = Bun.which("node");
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    memoryGiB: Math.round((memKb / 1024 / 1024) * 10) / 10,
    kernel: (readText("/proc/sys/kernel/osrelease") ?? "unknown").trim(),
    bun: Bun.version,
    node: node === null ? null : Bun.spawnSync([node, "--version"]).stdout.toString().trim(),
  };
}

/** The machine's CPU time counters (/proc/stat's `cpu` line, in ticks): all of it, and what was stolen. */
export interface CpuCounters {
  total: number;
  /** Time the hypervisor ran something else while this virtual machine had work for its CPU. */
  steal: number;
}

/**
 * Parses /proc/stat's first line: user nice system idle iowait irq softirq steal (guest time is already in
 * user). Null when the text has no such line.
 */
export function parseCpuCounters(procStat: string): CpuCounters | null {
  const line = /^cpu\s+([\d ]+)/m.exec(procStat)?.[1];
  if (line === undefined) return null;
  const fields = line.trim().split(/\s+/).map(Number).slice(0, 8);
  if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return null;
  return { total: fields.reduce((sum, n) => sum + n, 0), steal: fields[7] as number };
}

/** The machine's counters now; zero where /proc/stat cannot be read. */
export const cpuCounters = (): CpuCounters =>
  parseCpuCounters(readText("/proc/stat") ?? "") ?? { total: 0, steal: 0 };

/**
 * The share of the machine's CPU time stolen between two readings, in per cent with no decimals: on a shared
 * virtual machine a run's CPU per line can double while the ratios within it hold, and this says when.
 */
export function stealPercent(before: CpuCounters, after: CpuCounters): number {
  const total = after.total - before.total;
  return total > 0 ? Math.round((100 * (after.steal - before.steal)) / total) : 0;
}
