/**
 * Cluster benchmark: delivered relay messages per second with 1, 2 and 3 hookstream instances sharing one
 * real `redis-server` on this machine, against the embedded single-process mode (SQLite, no Redis).
 *
 * Every row starts fresh instances (`bun src/main.ts`, each its own DATA_DIR; cluster rows share REDIS_URL
 * and a REDIS_KEY_PREFIX of their own), creates a bucket and a token with the CLI, and then:
 *
 * - the same fixed number of subscribers (`/v1/socket`, every bucket) spread evenly over the instances, held
 *   by load processes of their own;
 * - a sender process POSTs the relay bench's ~7 KB payload to the instances' input URLs with a fixed number
 *   of requests in flight in all, spread over the instances (keep-alive), for a warm-up and then for the
 *   measured seconds;
 * - it waits until every subscriber has every accepted delivery (or a cap), and checks that each got each
 *   one exactly once and in store order.
 *
 * Reported per row: accepted webhooks/s, delivered messages/s (summed over subscribers, from the first POST
 * to the last arrival), POST → receive latency, loss, the time the fan-out needed after the last POST, and
 * the CPU of the instances, Redis and the load processes over the whole window. REUSE_PORT rows run the
 * instances on one port and let the kernel spread connections; the spread is read from /proc.
 *
 * Run alone: `bun bench/cluster.ts [--quick]`; `bun bench/run.ts --only cluster` adds it to
 * docs/benchmarks.md.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { installCleanup, stopAll, stopChild, track, withOpenFilesLimit } from "./lib/children.ts";
import { renderClusterTable, renderLogStreamTable } from "./lib/cluster-report.ts";
import type { ChildWorker } from "./lib/ipc.ts";
import { freePort, REPO_ROOT, type RunningServer } from "./lib/peers.ts";
import { cpuSeconds, sampleRss, treeStats } from "./lib/proc.ts";
import { type RunningRedis, startRedis } from "./lib/redis-server.ts";
import { type RelayLoadReply, type RelayLoadRequest, spawnRelayLoad } from "./lib/relay-load.ts";
import { type Summary, summarise } from "./lib/stats.ts";
import { LOG_FILE_NAME } from "./lib/workload.ts";
import { cli, payload } from "./relay.ts";
import type { BenchContext } from "./scenarios/context.ts";
import { measureMaxRate } from "./scenarios/maxrate.ts";

export interface ClusterOptions {
  quick: boolean;
  /** Subscribers in all, spread evenly over the instances. */
  subscribers: number;
  /** POSTs in flight in all, spread evenly over the instances. */
  inflight: number;
  /** Measured sending time. */
  seconds: number;
  senderProcesses: number;
  subscriberProcesses: number;
  /** Also run 2 and 3 instances sharing one port (REUSE_PORT). */
  reusePort: boolean;
  /** Every setup runs this many times, interleaved; the best delivered/s is reported, loss over all. */
  rounds: number;
  /** Which parts run: relay deliveries to subscribers, and log lines to one /logs/ws client. */
  parts: ClusterPart[];
  /** Lines appended per log-stream run (as the max-rate scenario appends for hookstream). */
  logLines: number;
}

export const CLUSTER_PARTS = ["relay", "logs"] as const;
export type ClusterPart = (typeof CLUSTER_PARTS)[number];

export function clusterDefaults(quick: boolean): ClusterOptions {
  return {
    quick,
    subscribers: 150,
    inflight: 32,
    seconds: quick ? 2 : 5,
    senderProcesses: 1,
    subscriberProcesses: 2,
    reusePort: true,
    rounds: quick ? 1 : 2,
    parts: [...CLUSTER_PARTS],
    logLines: quick ? 100_000 : 500_000,
  };
}

export type ClusterMode = "embedded" | "cluster" | "reuseport";

export interface CpuShare {
  /** CPU seconds over the window, summed over the group's processes. */
  instances: number;
  redis: number;
  senders: number;
  subscribers: number;
  /** The busiest single load process of each kind: whether one process could not keep up. */
  busiestSubscriberProcess: number;
  busiestSenderProcess: number;
  /** Wall seconds of the window (first POST → last arrival). */
  wall: number;
}

export interface ClusterRow {
  label: string;
  mode: ClusterMode;
  instances: number;
  /** Subscribers each instance holds (read from /proc for REUSE_PORT). */
  subscribersPerInstance: number[];
  /** Sender connections each instance holds after sending (REUSE_PORT only; otherwise the in-flight split). */
  sendersPerInstance: number[];
  sendSeconds: number;
  accepted: number;
  acceptedPerSecond: number;
  /** Measured-phase messages received, summed over subscribers. */
  delivered: number;
  deliveredPerSecond: number;
  /** Delivered/s of every round of this setup (the row's figures are the best round's). */
  deliveredPerSecondRounds: number[];
  /** Time from the last POST's answer to the last subscriber's last arrival. */
  drainMs: number;
  /** Every subscriber had every accepted delivery before the cap. */
  complete: boolean;
  latency: Summary;
  missing: number;
  duplicated: number;
  unexpected: number;
  outOfOrder: number;
  closedEarly: number;
  firstClose: string | null;
  otherStatuses: number;
  firstOtherStatus: string | null;
  failedPosts: Record<string, number>;
  firstPostError: string | null;
  cpu: CpuShare;
  peakRssMb: number[];
  /** Relay counters from each instance's /health summed (null: REUSE_PORT, /health reaches any one). */
  health: {
    lagEvents: number;
    catchingUp: number;
    closedTooSlow: number;
    deliveriesFailed: number;
    /** Catch-up pages read from the recent deliveries in memory, and from the store. */
    pagesFromMemory: number;
    pagesFromStore: number;
  } | null;
  /** Lines at level warn or error in the instances' own logs, and the first of them. */
  serverWarnings: number;
  firstServerWarning: string | null;
  /** Redis used_memory after the row (MB), before its keys were dropped. */
  redisUsedMb: number | null;
}

export interface ClusterBenchResult {
  cores: number;
  redisVersion: string;
  redisPersistence: string;
  /** AOF rewrites Redis ran during the section, and fsyncs it had to delay (a slow disk). */
  aofRewrites: number;
  aofDelayedFsync: number;
  payloadBytes: number;
  options: ClusterOptions;
  warmupSeconds: number;
  rows: ClusterRow[];
  /** The log-stream part's rows (empty when it did not run). */
  logStream: LogStreamRow[];
  load: string;
}

export interface LogStreamRow {
  label: string;
  mode: "embedded" | "cluster";
  instances: number;
  lines: number;
  /** Lines/s from the first to the last arrival at the client, best round; and every round's. */
  receiveRate: number;
  receiveRateRounds: number[];
  /** Lines/s from the first append to the last arrival, best round. */
  endToEndRate: number;
  /** Missing + duplicated or reordered lines, summed over every round. */
  loss: number;
  /** Some round's client did not get every line within the cap. */
  capped: boolean;
  firstClose: string | null;
  longestGapMs: number;
  /** CPU seconds of the best round (first append → last arrival), and that window's wall seconds. */
  cpu: { instances: number; redis: number; wall: number };
  /** Peak VmRSS per instance over every round (MB); the client's instance last. */
  peakRssMb: number[];
  /** The client's instance held the writer lease at the end of some round (it should not, with 2). */
  clientOnWriter: boolean;
  serverWarnings: number;
  firstServerWarning: string | null;
}

/** Sequence numbers of the measured phase start here; warm-up ones are below. */
const MEASURED_BASE = 1e12;
/** Per sender process, so sequence numbers never collide. */
const SENDER_STRIDE = 1e9;

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

function spread(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/** Established TCP connections that `pid` holds on local port `port` (IPv4 loopback). */
function connectionsOnPort(pid: number, port: number): number {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 0;
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith("socket:[")) inodes.add(target.slice(8, -1));
    } catch {
      // Closed while listing.
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === "01" && inodes.has(fields[9] as string)) count++;
  }
  return count;
}

interface Instance {
  proc: Subprocess;
  port: number;
  logFile: string;
}

async function startInstance(
  index: number,
  dir: string,
  port: number,
  env: Record<string, string>,
): Promise<Instance> {
  const dataDir = join(dir, `instance-${index}`);
  mkdirSync(dataDir, { recursive: true });
  const logFile = join(dir, `instance-${index}.log`);
  const proc = Bun.spawn({
    cmd: withOpenFilesLimit([process.execPath, join(REPO_ROOT, "src/main.ts")]),
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: String(port),
      DATA_DIR: dataDir,
      MAX_CONNECTIONS: "20000",
      MAX_CONNECTIONS_PER_IP: "20000",
      SHUTDOWN_GRACE_MS: "1000",
      LOG_FORMAT: "json",
      // Roomy retention: nothing of a run is pruned while it is measured.
      RELAY_RETENTION_COUNT: "0",
      RELAY_RETENTION_HOURS: "168",
      RELAY_PRUNE_INTERVAL_MS: "3600000",
      ...env,
    },
    detached: true,
    stdio: ["ignore", Bun.file(logFile), Bun.file(logFile)],
  });
  track(`hookstream-${index}`, proc, true);
  const deadline = Date.now() + 20_000;
  while (!(existsSync(logFile) && readFileSync(logFile, "utf8").includes("hookstream listening on"))) {
    if (proc.exitCode !== null)
      throw new Error(`instance ${index} exited (${proc.exitCode}); see ${logFile}`);
    if (Date.now() > deadline)
      throw new Error(`instance ${index} did not listen within 20 s; see ${logFile}`);
    await Bun.sleep(25);
  }
  return { proc, port, logFile };
}

/** warn/error lines of an instance's JSON log (its own start-up and shutdown lines are info). */
function warningsOf(logFile: string): string[] {
  const found: string[] = [];
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    let level = "";
    try {
      level = String((JSON.parse(line) as { level?: unknown }).level ?? "").toLowerCase();
    } catch {
      // Not JSON (a runtime message on stderr): count it, it is unexpected.
      level = "error";
    }
    if (level === "warn" || level === "warning" || level === "error") found.push(line.slice(0, 300));
  }
  return found;
}

async function waitFor<T extends RelayLoadReply["type"]>(
  workers: ChildWorker<RelayLoadRequest, RelayLoadReply>[],
  request: RelayLoadRequest,
  type: T,
  timeoutMs: number,
): Promise<Extract<RelayLoadReply, { type: T }>[]> {
  for (const worker of workers) worker.send(request);
  return Promise.all(workers.map((w) => w.next(type, timeoutMs)));
}

interface RowPlan {
  label: string;
  mode: ClusterMode;
  instances: number;
}

async function runRow(
  plan: RowPlan,
  options: ClusterOptions,
  redis: RunningRedis | null,
  scratch: string,
  row: number,
  log: (line: string) => void,
): Promise<ClusterRow> {
  const dir = join(scratch, `row-${row}`);
  mkdirSync(dir, { recursive: true });
  const prefix = `bench-${process.pid}-${row}:`;
  const shared: Record<string, string> =
    plan.mode === "embedded"
      ? { RELAY_DURABILITY: "full" }
      : { REDIS_URL: redis?.url ?? "", REDIS_KEY_PREFIX: prefix };
  const bucket = (await cli(join(dir, "instance-0"), ["bucket", "create", "bench"], shared)) as {
    inputs: Array<{ id: string }>;
  };
  const token = (await cli(join(dir, "instance-0"), ["token", "create"], shared)) as {
    key: string;
    secret: string;
  };
  const inputId = bucket.inputs[0]?.id;
  if (inputId === undefined) throw new Error("the CLI created a bucket without an input");

  const instances: Instance[] = [];
  const subscribers: ChildWorker<RelayLoadRequest, RelayLoadReply>[] = [];
  const senders: ChildWorker<RelayLoadRequest, RelayLoadReply>[] = [];
  try {
    const onePort = plan.mode === "reuseport" ? await freePort() : null;
    for (let i = 0; i < plan.instances; i++) {
      const port = onePort ?? (await freePort());
      const env = onePort === null ? shared : { ...shared, REUSE_PORT: "true" };
      instances.push(await startInstance(i, dir, port, env));
    }

    // Subscribers: instance i holds its share; each load process takes every k-th of each instance's.
    const perInstance = spread(options.subscribers, plan.instances);
    const urls = instances.flatMap((instance, i) =>
      Array.from({ length: perInstance[i] ?? 0 }, () => `ws://127.0.0.1:${instance.port}/v1/socket`),
    );
    for (let p = 0; p < options.subscriberProcesses; p++) subscribers.push(spawnRelayLoad("subscribers", p));
    const subscribed = await Promise.all(
      subscribers.map((worker, p) => {
        worker.send({
          cmd: "subscribe",
          urls: urls.filter((_, i) => i % options.subscriberProcesses === p),
          key: token.key,
          secret: token.secret,
          concurrency: 16,
        });
        return worker.next("subscribed", 60_000);
      }),
    );
    const open = subscribed.reduce((sum, r) => sum + r.open, 0);
    if (open !== options.subscribers)
      throw new Error(
        `${options.subscribers - open} subscribers failed: ${subscribed.find((r) => r.firstError)?.firstError}`,
      );
    const subscribersPerInstance =
      onePort === null
        ? perInstance
        : instances.map((instance) => connectionsOnPort(instance.proc.pid, onePort));

    // Senders: the in-flight total split over the instances, then over the sender processes.
    const inflightPerInstance = spread(options.inflight, plan.instances);
    for (let s = 0; s < options.senderProcesses; s++) senders.push(spawnRelayLoad("sender", s));
    const targetsOf = (s: number) =>
      instances
        .map((instance, i) => ({
          url: `http://127.0.0.1:${instance.port}/v1/webhooks/${inputId}`,
          inflight: spread(inflightPerInstance[i] ?? 0, options.senderProcesses)[s] ?? 0,
        }))
        .filter((t) => t.inflight > 0);
    const send = async (base: number, durationMs: number) => {
      const replies = await Promise.all(
        senders.map((worker, s) => {
          worker.send({
            cmd: "send",
            targets: targetsOf(s),
            durationMs,
            firstSeq: base + s * SENDER_STRIDE,
            acceptedFile: join(dir, `accepted-${base}-${s}.f64`),
          });
          return worker.next("sent", durationMs + 60_000);
        }),
      );
      const accepted = new Float64Array(replies.reduce((sum, r) => sum + r.accepted, 0));
      let offset = 0;
      for (let s = 0; s < senders.length; s++) {
        const part = new Float64Array(await Bun.file(join(dir, `accepted-${base}-${s}.f64`)).arrayBuffer());
        accepted.set(part, offset);
        offset += part.length;
      }
      accepted.sort();
      await Bun.write(join(dir, `accepted-${base}.f64`), accepted);
      const failures: Record<string, number> = {};
      for (const reply of replies)
        for (const [status, count] of Object.entries(reply.failures))
          failures[status] = (failures[status] ?? 0) + count;
      return {
        accepted,
        file: join(dir, `accepted-${base}.f64`),
        failures,
        firstError: replies.find((r) => r.firstError !== null)?.firstError ?? null,
        startMs: Math.min(...replies.map((r) => r.startMs)),
        endMs: Math.max(...replies.map((r) => r.endMs)),
      };
    };
    /** Waits until every subscriber has `count` messages (measured ones, or all); false at the cap. */
    const drained = async (count: number, measured: boolean, capMs: number) => {
      const deadline = Date.now() + capMs;
      for (;;) {
        const progress = await waitFor(subscribers, { cmd: "progress" }, "progress", 10_000);
        if (progress.every((p) => (measured ? p.minMeasured : p.minTotal) >= count))
          return { done: true, lastMs: Math.max(...progress.map((p) => p.lastMeasuredMs)) };
        if (progress.some((p) => p.closedEarly > 0) || Date.now() > deadline)
          return { done: false, lastMs: Math.max(...progress.map((p) => p.lastMeasuredMs)) };
        await Bun.sleep(50);
      }
    };

    // Warm-up: the same load, briefly, then wait until it has been fanned out.
    const warm = await send(0, warmupMs(options));
    if (!(await drained(warm.accepted.length, false, 60_000)).done)
      log(`  ${plan.label}: the warm-up was not fanned out within 60 s`);
    await waitFor(subscribers, { cmd: "arm", measureFrom: MEASURED_BASE }, "armed", 10_000);

    const pids = {
      instances: instances.map((i) => i.proc.pid),
      redis: redis === null || plan.mode === "embedded" ? [] : [redis.pid],
      senders: senders.map((w) => w.proc.pid),
      subscribers: subscribers.map((w) => w.proc.pid),
    };
    const cpuOf = (list: number[]) => list.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const perProcessBefore = new Map(
      [...pids.senders, ...pids.subscribers].map((pid) => [pid, cpuSeconds(pid)]),
    );
    const busiest = (list: number[]) =>
      Math.max(0, ...list.map((pid) => cpuSeconds(pid) - (perProcessBefore.get(pid) ?? 0)));
    const cpuBefore = {
      instances: cpuOf(pids.instances),
      redis: cpuOf(pids.redis),
      senders: cpuOf(pids.senders),
      subscribers: cpuOf(pids.subscribers),
    };
    const rss = instances.map((i) => sampleRss(i.proc.pid, false, 100));

    const measured = await send(MEASURED_BASE, options.seconds * 1000);
    const sendersPerInstance =
      onePort === null
        ? inflightPerInstance
        : instances.map((instance, i) =>
            Math.max(0, connectionsOnPort(instance.proc.pid, onePort) - (subscribersPerInstance[i] ?? 0)),
          );
    const drain = await drained(measured.accepted.length, true, options.quick ? 30_000 : 60_000);
    const windowEnd = drain.done ? drain.lastMs : performance.timeOrigin + performance.now();
    const cpu: CpuShare = {
      instances: cpuOf(pids.instances) - cpuBefore.instances,
      redis: cpuOf(pids.redis) - cpuBefore.redis,
      senders: cpuOf(pids.senders) - cpuBefore.senders,
      subscribers: cpuOf(pids.subscribers) - cpuBefore.subscribers,
      busiestSubscriberProcess: busiest(pids.subscribers),
      busiestSenderProcess: busiest(pids.senders),
      wall: (windowEnd - measured.startMs) / 1000,
    };
    const peakRssMb = rss.map((r) => (r.stop() * 1024) / 1e6);

    const results = await Promise.all(
      subscribers.map((worker, p) => {
        worker.send({
          cmd: "collect",
          acceptedFile: measured.file,
          latencyFile: join(dir, `latency-${p}.f64`),
        });
        return worker.next("result", 60_000);
      }),
    );
    const latencyParts = await Promise.all(
      subscribers.map(
        async (_, p) => new Float64Array(await Bun.file(join(dir, `latency-${p}.f64`)).arrayBuffer()),
      ),
    );
    const latencies = new Float64Array(latencyParts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of latencyParts) {
      latencies.set(part, offset);
      offset += part.length;
    }

    let health: ClusterRow["health"] = null;
    if (onePort === null) {
      health = {
        lagEvents: 0,
        catchingUp: 0,
        closedTooSlow: 0,
        deliveriesFailed: 0,
        pagesFromMemory: 0,
        pagesFromStore: 0,
      };
      for (const instance of instances) {
        const body = (await (await fetch(`http://127.0.0.1:${instance.port}/health`)).json()) as {
          relay?: {
            lag_events: number;
            catching_up: number;
            closed_too_slow: number;
            deliveries_failed: number;
            catch_up_pages_from_memory?: number;
            catch_up_pages_from_store?: number;
          };
        };
        health.lagEvents += body.relay?.lag_events ?? 0;
        health.catchingUp += body.relay?.catching_up ?? 0;
        health.closedTooSlow += body.relay?.closed_too_slow ?? 0;
        health.deliveriesFailed += body.relay?.deliveries_failed ?? 0;
        health.pagesFromMemory += body.relay?.catch_up_pages_from_memory ?? 0;
        health.pagesFromStore += body.relay?.catch_up_pages_from_store ?? 0;
      }
    }
    let redisUsedMb: number | null = null;
    if (redis !== null && plan.mode !== "embedded") {
      redisUsedMb = Number((await redis.info("memory")).used_memory ?? Number.NaN) / 1e6;
    }

    const sendSeconds = (measured.endMs - measured.startMs) / 1000;
    const delivered = results.reduce((sum, r) => sum + r.received, 0);
    const result: ClusterRow = {
      label: plan.label,
      mode: plan.mode,
      instances: plan.instances,
      subscribersPerInstance,
      sendersPerInstance,
      sendSeconds,
      accepted: measured.accepted.length,
      acceptedPerSecond: measured.accepted.length / sendSeconds,
      delivered,
      deliveredPerSecond: delivered / cpu.wall,
      deliveredPerSecondRounds: [delivered / cpu.wall],
      drainMs: Math.max(0, windowEnd - measured.endMs),
      complete: drain.done,
      latency: summarise(latencies),
      missing: results.reduce((sum, r) => sum + r.missing, 0),
      duplicated: results.reduce((sum, r) => sum + r.duplicated, 0),
      unexpected: results.reduce((sum, r) => sum + r.unexpected, 0),
      outOfOrder: results.reduce((sum, r) => sum + r.outOfOrder, 0),
      closedEarly: results.reduce((sum, r) => sum + r.closedEarly, 0),
      firstClose: results.find((r) => r.firstClose !== null)?.firstClose ?? null,
      otherStatuses: results.reduce((sum, r) => sum + r.otherStatuses, 0),
      firstOtherStatus: results.find((r) => r.firstOtherStatus !== null)?.firstOtherStatus ?? null,
      failedPosts: measured.failures,
      firstPostError: measured.firstError,
      cpu,
      peakRssMb,
      health,
      serverWarnings: 0,
      firstServerWarning: null,
      redisUsedMb,
    };
    await waitFor(subscribers, { cmd: "close" }, "closed", 10_000).catch(() => []);
    for (const instance of instances) await stopChild(instance.proc);
    const warnings = instances.flatMap((i) => warningsOf(i.logFile));
    result.serverWarnings = warnings.length;
    result.firstServerWarning = warnings[0] ?? null;
    return result;
  } finally {
    await Promise.all([...senders, ...subscribers].map((w) => w.stop()));
    for (const instance of instances) await stopChild(instance.proc);
    if (redis !== null && plan.mode !== "embedded") {
      // Drop this row's keys so the next row starts with Redis as empty as this one did.
      await redis.send("FLUSHALL", []).catch(() => null);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

interface LogStreamPlan {
  label: string;
  mode: "embedded" | "cluster";
  instances: number;
}

export function logStreamPlans(): LogStreamPlan[] {
  return [
    { label: "embedded (no Redis)", mode: "embedded", instances: 1 },
    { label: "cluster, 1 instance", mode: "cluster", instances: 1 },
    { label: "cluster, 2 instances, client on the non-writer", mode: "cluster", instances: 2 },
  ];
}

interface InstanceHealth {
  watched_files?: string[];
  cluster?: { logs?: { writer?: boolean } };
}

async function healthOf(instance: Instance): Promise<InstanceHealth> {
  return (await (await fetch(`http://127.0.0.1:${instance.port}/health`)).json()) as InstanceHealth;
}

/**
 * One log-stream run: fresh instances following one shared log directory (the first one started takes the
 * writer lease), one /logs/ws client on the last instance, and the max-rate scenario's burst and checks.
 */
async function runLogStreamRow(
  plan: LogStreamPlan,
  options: ClusterOptions,
  redis: RunningRedis,
  scratch: string,
  index: number,
) {
  const dir = join(scratch, `logs-${index}`);
  const logDir = join(dir, "logs");
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, LOG_FILE_NAME);
  writeFileSync(logFile, "");
  const env: Record<string, string> = { LOG_DIR: logDir };
  if (plan.mode === "cluster") {
    env.REDIS_URL = redis.url;
    env.REDIS_KEY_PREFIX = `bench${index}:`;
  }
  const instances: Instance[] = [];
  try {
    for (let i = 0; i < plan.instances; i++) {
      const instance = await startInstance(i, dir, await freePort(), env);
      instances.push(instance);
      // The first instance follows the file (and so holds the lease) before the next one starts.
      if (i === 0) {
        const deadline = Date.now() + 15_000;
        while (!(await healthOf(instance)).watched_files?.includes(logFile)) {
          if (Date.now() > deadline) throw new Error(`instance 0 did not follow ${logFile} within 15 s`);
          await Bun.sleep(25);
        }
      }
    }
    const client = instances.at(-1) as Instance;
    const server: RunningServer = {
      name: "hookstream",
      pid: client.proc.pid,
      url: `ws://127.0.0.1:${client.port}/logs/ws`,
      clientKind: "ws",
      forks: false,
      openFiles: "",
      stats: () => treeStats(client.proc.pid),
      settle: () => Bun.sleep(300),
      stop: () => stopChild(client.proc).then(() => undefined),
    };
    const ctx: BenchContext = {
      install: { websocketd: null, frontail: null, notes: [] },
      servers: ["hookstream"],
      quick: options.quick,
      scratch: dir,
      log: () => {},
    };
    const instancePids = instances.map((i) => i.proc.pid);
    const redisPids = plan.mode === "cluster" ? [redis.pid] : [];
    const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const before = { instances: cpuOf(instancePids), redis: cpuOf(redisPids) };
    const rss = instancePids.map((pid) => sampleRss(pid, false, 50));
    const measured = await measureMaxRate(
      ctx,
      { server, logFile, dir },
      options.logLines,
      options.quick ? 30_000 : 60_000,
    );
    const cpu = {
      instances: cpuOf(instancePids) - before.instances,
      redis: cpuOf(redisPids) - before.redis,
      wall: measured.lines / measured.endToEndRate,
    };
    const peakRssMb = rss.map((r) => (r.stop() * 1024) / 1e6);
    const clientOnWriter = plan.instances > 1 && (await healthOf(client)).cluster?.logs?.writer === true;
    for (const instance of instances) await stopChild(instance.proc);
    const warnings = instances.flatMap((i) => warningsOf(i.logFile));
    return { ...measured, cpu, peakRssMb, clientOnWriter, warnings };
  } finally {
    for (const instance of instances) await stopChild(instance.proc);
    if (plan.mode === "cluster") await redis.send("FLUSHALL", []).catch(() => null);
    rmSync(dir, { recursive: true, force: true });
  }
}

type LogStreamRound = Awaited<ReturnType<typeof runLogStreamRow>>;

/** The best round's rate, CPU and window; loss, memory, gaps and warnings from every round. */
function combineLogRounds(plan: LogStreamPlan, rounds: LogStreamRound[]): LogStreamRow {
  const best = rounds.reduce((a, b) => (b.receiveRate > a.receiveRate ? b : a));
  const warnings = rounds.flatMap((r) => r.warnings);
  return {
    label: plan.label,
    mode: plan.mode,
    instances: plan.instances,
    lines: best.lines,
    receiveRate: best.receiveRate,
    receiveRateRounds: rounds.map((r) => r.receiveRate),
    endToEndRate: best.endToEndRate,
    loss: rounds.reduce((sum, r) => sum + r.loss, 0),
    capped: rounds.some((r) => r.capped),
    firstClose: rounds.find((r) => r.firstClose !== null)?.firstClose ?? null,
    longestGapMs: Math.max(...rounds.map((r) => r.longestGapMs)),
    cpu: best.cpu,
    peakRssMb: best.peakRssMb.map((_, i) => Math.max(...rounds.map((r) => r.peakRssMb[i] ?? 0))),
    clientOnWriter: rounds.some((r) => r.clientOnWriter),
    serverWarnings: warnings.length,
    firstServerWarning: warnings[0] ?? null,
  };
}

export function describeLogStreamRow(row: LogStreamRow): string {
  const pct = (cpu: number) => `${fmt((cpu / row.cpu.wall) * 100)} %`;
  return (
    `${row.label}: ${fmt(row.receiveRate)} lines/s received (${row.receiveRateRounds.map((r) => fmt(r)).join(", ")}); ` +
    `loss ${row.loss}${row.capped ? " (capped)" : ""}; CPU instances ${pct(row.cpu.instances)}, redis ` +
    `${pct(row.cpu.redis)}; peak RSS ${row.peakRssMb.map((mb) => fmt(mb)).join("/")} MB; longest gap ` +
    `${fmt(row.longestGapMs)} ms${row.clientOnWriter ? "; CLIENT ON THE WRITER" : ""}`
  );
}

async function runLogStream(
  options: ClusterOptions,
  redis: RunningRedis,
  scratch: string,
  log: (line: string) => void,
): Promise<LogStreamRow[]> {
  log(`cluster log stream: ${fmt(options.logLines)} lines as fast as the writer can, 1 /logs/ws client`);
  const plans = logStreamPlans();
  const runs: LogStreamRound[][] = plans.map(() => []);
  let index = 0;
  for (let round = 0; round < options.rounds; round++) {
    for (const [i, plan] of plans.entries()) {
      const result = await runLogStreamRow(plan, options, redis, scratch, index++);
      runs[i]?.push(result);
      log(`  ${describeLogStreamRow(combineLogRounds(plan, [result]))}`);
    }
  }
  return plans.map((plan, i) => combineLogRounds(plan, runs[i] ?? []));
}

/** The best round's figures; loss, errors and warnings summed over every round. */
export function combineRounds(rounds: ClusterRow[]): ClusterRow {
  const best = rounds.reduce((a, b) => (b.deliveredPerSecond > a.deliveredPerSecond ? b : a));
  const sum = (pick: (row: ClusterRow) => number) => rounds.reduce((total, row) => total + pick(row), 0);
  const failedPosts: Record<string, number> = {};
  for (const row of rounds)
    for (const [status, count] of Object.entries(row.failedPosts))
      failedPosts[status] = (failedPosts[status] ?? 0) + count;
  const healths = rounds.flatMap((row) => (row.health === null ? [] : [row.health]));
  return {
    ...best,
    deliveredPerSecondRounds: rounds.map((row) => row.deliveredPerSecond),
    complete: rounds.every((row) => row.complete),
    missing: sum((row) => row.missing),
    duplicated: sum((row) => row.duplicated),
    unexpected: sum((row) => row.unexpected),
    outOfOrder: sum((row) => row.outOfOrder),
    closedEarly: sum((row) => row.closedEarly),
    firstClose: rounds.find((row) => row.firstClose !== null)?.firstClose ?? null,
    otherStatuses: sum((row) => row.otherStatuses),
    firstOtherStatus: rounds.find((row) => row.firstOtherStatus !== null)?.firstOtherStatus ?? null,
    failedPosts,
    firstPostError: rounds.find((row) => row.firstPostError !== null)?.firstPostError ?? null,
    health:
      healths.length === 0
        ? null
        : {
            lagEvents: healths.reduce((t, h) => t + h.lagEvents, 0),
            catchingUp: healths.reduce((t, h) => t + h.catchingUp, 0),
            closedTooSlow: healths.reduce((t, h) => t + h.closedTooSlow, 0),
            deliveriesFailed: healths.reduce((t, h) => t + h.deliveriesFailed, 0),
            pagesFromMemory: healths.reduce((t, h) => t + h.pagesFromMemory, 0),
            pagesFromStore: healths.reduce((t, h) => t + h.pagesFromStore, 0),
          },
    serverWarnings: sum((row) => row.serverWarnings),
    firstServerWarning: rounds.find((row) => row.firstServerWarning !== null)?.firstServerWarning ?? null,
  };
}

function warmupMs(options: ClusterOptions): number {
  return options.quick ? 500 : 1000;
}

export function clusterPlans(options: ClusterOptions): RowPlan[] {
  return [
    { label: "embedded (SQLite, no Redis)", mode: "embedded", instances: 1 },
    { label: "cluster, 1 instance", mode: "cluster", instances: 1 },
    { label: "cluster, 2 instances", mode: "cluster", instances: 2 },
    { label: "cluster, 3 instances", mode: "cluster", instances: 3 },
    ...(options.reusePort
      ? ([
          { label: "cluster, 2 instances, REUSE_PORT", mode: "reuseport", instances: 2 },
          { label: "cluster, 3 instances, REUSE_PORT", mode: "reuseport", instances: 3 },
        ] as const)
      : []),
  ];
}

const fmt = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "—";

export function describeRow(row: ClusterRow): string {
  const pct = (cpu: number) => `${fmt((cpu / row.cpu.wall) * 100)} %`;
  return (
    `${row.label}: ${fmt(row.acceptedPerSecond)} webhooks/s accepted, ${fmt(row.deliveredPerSecond)} messages/s ` +
    `delivered; p50 ${fmt(row.latency.p50, 1)} ms, p99 ${fmt(row.latency.p99, 1)} ms; ` +
    `missing ${row.missing}, duplicated ${row.duplicated}, out of order ${row.outOfOrder}; drain ${fmt(row.drainMs)} ms; ` +
    `CPU instances ${pct(row.cpu.instances)}, redis ${pct(row.cpu.redis)}, senders ${pct(row.cpu.senders)}, ` +
    `subscribers ${pct(row.cpu.subscribers)}; subscribers per instance ${row.subscribersPerInstance.join("/")}`
  );
}

export async function runClusterBench(
  options: ClusterOptions,
  log: (line: string) => void,
): Promise<ClusterBenchResult> {
  const scratch = mkdtempSync(join(tmpdir(), "hookstream-cluster-bench-"));
  const loadAtStart = loadAverage();
  const redis = await startRedis({ appendfsync: "everysec" });
  log(
    `cluster: redis-server ${redis.version} (${redis.persistence}); ${options.subscribers} subscribers, ` +
      `${options.inflight} POSTs in flight, ${options.seconds} s per row, ${navigator.hardwareConcurrency} cores`,
  );
  try {
    const plans = options.parts.includes("relay") ? clusterPlans(options) : [];
    const runs: ClusterRow[][] = plans.map(() => []);
    let index = 0;
    for (let round = 0; round < options.rounds && plans.length > 0; round++) {
      if (options.rounds > 1) log(`  round ${round + 1} of ${options.rounds}`);
      for (const [i, plan] of plans.entries()) {
        const row = await runRow(plan, options, redis, scratch, index++, log);
        log(`  ${describeRow(row)}`);
        runs[i]?.push(row);
      }
    }
    const rows = runs.map(combineRounds);
    const logStream = options.parts.includes("logs") ? await runLogStream(options, redis, scratch, log) : [];
    const persistence = await redis.info("persistence");
    return {
      cores: navigator.hardwareConcurrency,
      redisVersion: redis.version,
      redisPersistence: redis.persistence,
      aofRewrites: Number(persistence.aof_rewrites ?? 0),
      aofDelayedFsync: Number(persistence.aof_delayed_fsync ?? 0),
      payloadBytes: payload(0).length,
      options,
      warmupSeconds: warmupMs(options) / 1000,
      rows,
      logStream,
      load: `${loadAtStart} at the start, ${loadAverage()} at the end (1, 5, 15 min)`,
    };
  } finally {
    await redis.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      quick: { type: "boolean", default: false },
      subscribers: { type: "string" },
      inflight: { type: "string" },
      seconds: { type: "string" },
      senders: { type: "string" },
      "subscriber-processes": { type: "string" },
      "no-reuse-port": { type: "boolean", default: false },
      rounds: { type: "string" },
      parts: { type: "string" },
      "log-lines": { type: "string" },
    },
  });
  const options = clusterDefaults(values.quick);
  if (values.subscribers) options.subscribers = Number(values.subscribers);
  if (values.inflight) options.inflight = Number(values.inflight);
  if (values.seconds) options.seconds = Number(values.seconds);
  if (values.senders) options.senderProcesses = Number(values.senders);
  if (values["subscriber-processes"]) options.subscriberProcesses = Number(values["subscriber-processes"]);
  if (values["no-reuse-port"]) options.reusePort = false;
  if (values.rounds) options.rounds = Number(values.rounds);
  if (values.parts)
    options.parts = values.parts
      .split(",")
      .filter((p): p is ClusterPart => CLUSTER_PARTS.includes(p as ClusterPart));
  if (values["log-lines"]) options.logLines = Number(values["log-lines"]);
  installCleanup(async () => {
    await stopAll();
  });
  try {
    const result = await runClusterBench(options, console.log);
    if (result.rows.length > 0) console.log(`\n${renderClusterTable(result)}`);
    if (result.logStream.length > 0) console.log(`\n${renderLogStreamTable(result.logStream)}`);
  } finally {
    await stopAll();
  }
  process.exit(0);
}
