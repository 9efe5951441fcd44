/**
 * Relay ingest, side by side in one run: a no-store calibration relay (Node `node:http` + `ws`), smee.io's own
 * server (Node, event-stream subscribers, nothing stored) and hookstream with its durable store
 * (RELAY_DURABILITY=full: every 2xx only after an fsynced group commit). Each server runs pinned to one CPU;
 * the driver (sender processes and subscriber processes) runs pinned to the other, so it is not the server's
 * competition for a core. Per server:
 *
 * - throughput: webhooks/s answered 2xx with `INFLIGHT` POSTs in flight (keep-alive), 1 and 100 subscribers,
 *   and the server's CPU per accepted webhook;
 * - latency: POST → receive on a subscriber, p50/p99/max, at 100 webhooks/s one request at a time, 1 and 100
 *   subscribers;
 * - loss: every accepted webhook reached every subscriber once (hookstream: and in delivery-id order).
 *
 * Bodies are ~7 KB GitHub `pull_request` JSON with a fresh `X-GitHub-Delivery` and `X-Hub-Signature-256`.
 * Run alone: `bun bench/relay.ts [--quick] [--servers nostore,smee,hookstream]`; `bun bench/run.ts --only
 * relay` runs it and writes its block of docs/benchmarks.md.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildWorker } from "./lib/ipc.ts";
import { REPO_ROOT } from "./lib/peers.ts";
import { cpuSeconds } from "./lib/proc.ts";
import {
  type CollectReply,
  type RelayLoadReply,
  type RelayLoadRequest,
  type SentReply,
  spawnRelayLoad,
} from "./lib/relay-load.ts";
import {
  BENCH_GITHUB_SECRET,
  ensureSmee,
  RELAY_SERVERS,
  type RelayServer,
  type RelayServerName,
  startRelayServer,
} from "./lib/relay-servers.ts";
import { summarise } from "./lib/stats.ts";

/** POSTs in flight during the throughput phase, over all sender processes. */
export const INFLIGHT = 16;
/** Sender processes: two, so that signing and sending is not one process's limit. */
const SENDER_PROCESSES = 2;
/** The server's CPU, and the driver's. */
const SERVER_CPU = "1";
const DRIVER_CPU = "0";
const LATENCY_RATE = 100;
/** Full runs measure every server this many times, in alternating order, and keep each phase's best. */
const ROUNDS = 3;
const SUBSCRIBER_COUNTS = [1, 100] as const;
/** Sequence numbers: each phase starts above the previous one's, so the subscribers tell them apart. */
const PHASE_STRIDE = 10_000_000;
const SENDER_STRIDE = 1_000_000;

export interface RelayPhase {
  subscribers: number;
  accepted: number;
  perSecond: number;
  /** Server CPU seconds per accepted webhook, in µs (throughput phases). */
  cpuUsPerWebhook: number;
  p50: number;
  p99: number;
  max: number;
  /** Accepted webhooks some subscriber missed, got twice, or (hookstream) out of order; and refused POSTs. */
  missing: number;
  duplicated: number;
  outOfOrder: number;
  refused: number;
  firstError: string | null;
}

export interface RelayServerResult {
  name: RelayServerName;
  throughput: RelayPhase[];
  latency: RelayPhase[];
  /** hookstream: 1-subscriber throughput after `cycles` subscriber connect/disconnect cycles. */
  afterCycles: RelayPhase | null;
  cycles: number;
}

export interface RelayBenchResult {
  payloadBytes: number;
  seconds: number;
  rounds: number;
  servers: RelayServerResult[];
  smeeCommit: string | null;
  /** The other checkout measured as `baseline`, when RELAY_BENCH_BASELINE named one. */
  baseline: string | null;
  notes: string[];
}

/** The ~7 KB GitHub-like body of every relay benchmark: it starts `{"seq":N,"sent_at":T,`. */
export function payload(seq: number): string {
  const filler = "Refactor the webhook relay so that deliveries are committed in groups. ".repeat(95);
  return JSON.stringify({
    seq,
    sent_at: performance.timeOrigin + performance.now(),
    action: "synchronize",
    number: 4242,
    pull_request: {
      id: 1,
      number: 4242,
      title: "Group commit for deliveries",
      body: filler,
      user: { login: "octocat" },
    },
    repository: { id: 2, full_name: "acme/widgets", private: false, owner: { login: "acme" } },
    sender: { login: "octocat", id: 3, type: "User" },
  });
}

/** `bun src/cli.ts <args> --json` on the store in `dataDir` (or the one `env` names, e.g. REDIS_URL). */
export async function cli(
  dataDir: string,
  args: string[],
  env: Record<string, string> = {},
  root = REPO_ROOT,
): Promise<unknown> {
  const child = Bun.spawn([process.execPath, join(root, "src/cli.ts"), ...args, "--json"], {
    env: { ...process.env, ...env, DATA_DIR: dataDir },
    stdout: "pipe",
    stderr: "inherit",
  });
  const output = await new Response(child.stdout).text();
  if ((await child.exited) !== 0) throw new Error(`cli ${args.join(" ")} failed`);
  return JSON.parse(output);
}

type Load = ChildWorker<RelayLoadRequest, RelayLoadReply>;

async function ask<T extends RelayLoadReply["type"]>(
  workers: Load[],
  request: RelayLoadRequest,
  type: T,
  timeoutMs: number,
) {
  return Promise.all(
    workers.map((w) => {
      w.send(request);
      return w.next(type, timeoutMs);
    }),
  );
}

/** Waits until every subscriber has `count` measured (or, warm-up, total) messages; false at the cap. */
async function drained(subscribers: Load[], count: number, measured: boolean, capMs: number) {
  const deadline = Date.now() + capMs;
  for (;;) {
    const progress = await ask(subscribers, { cmd: "progress" }, "progress", 10_000);
    if (progress.every((p) => (measured ? p.minMeasured : p.minTotal) >= count)) return true;
    if (progress.some((p) => p.closedEarly > 0) || Date.now() > deadline) return false;
    await Bun.sleep(20);
  }
}

interface Driver {
  senders: Load[];
  subscribers: Load[];
  scratch: string;
}

/** Sends from every sender (`rate`: one paced lane on the first sender only); merges the accepted seqs. */
async function send(driver: Driver, server: RelayServer, base: number, ms: number, rate?: number) {
  const senders = rate === undefined ? driver.senders : driver.senders.slice(0, 1);
  const per = Math.ceil(INFLIGHT / senders.length);
  const replies: SentReply[] = await Promise.all(
    senders.map((worker, s) => {
      worker.send({
        cmd: "send",
        targets: [{ url: server.inputUrl, inflight: per }],
        durationMs: ms,
        firstSeq: base + s * SENDER_STRIDE,
        acceptedFile: join(driver.scratch, `accepted-${base}-${s}.f64`),
        githubSecret: BENCH_GITHUB_SECRET,
        ...(rate === undefined ? {} : { ratePerSecond: rate }),
      });
      return worker.next("sent", ms + 60_000);
    }),
  );
  const parts = await Promise.all(
    senders.map(
      async (_, s) =>
        new Float64Array(await Bun.file(join(driver.scratch, `accepted-${base}-${s}.f64`)).arrayBuffer()),
    ),
  );
  const accepted = new Float64Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    accepted.set(part, offset);
    offset += part.length;
  }
  accepted.sort();
  const file = join(driver.scratch, `accepted-${base}.f64`);
  await Bun.write(file, accepted);
  const refused = replies.reduce((sum, r) => sum + Object.values(r.failures).reduce((a, b) => a + b, 0), 0);
  return {
    accepted,
    file,
    refused,
    firstError: replies.find((r) => r.firstError !== null)?.firstError ?? null,
    seconds: (Math.max(...replies.map((r) => r.endMs)) - Math.min(...replies.map((r) => r.startMs))) / 1000,
  };
}

/** One measured phase: arm, send, wait for the fan-out, collect. */
async function phase(
  driver: Driver,
  server: RelayServer,
  base: number,
  ms: number,
  subscribers: number,
  rate?: number,
): Promise<RelayPhase> {
  await ask(driver.subscribers, { cmd: "arm", measureFrom: base }, "armed", 10_000);
  const cpuBefore = cpuSeconds(server.pid);
  const sent = await send(driver, server, base, ms, rate);
  const cpu = cpuSeconds(server.pid) - cpuBefore;
  await drained(driver.subscribers, sent.accepted.length, true, 60_000);
  const latencyFile = join(driver.scratch, `latency-${base}`);
  const collected: CollectReply[] = await Promise.all(
    driver.subscribers.map((w, i) => {
      w.send({ cmd: "collect", acceptedFile: sent.file, latencyFile: `${latencyFile}-${i}.f64` });
      return w.next("result", 60_000);
    }),
  );
  const latencies = await Promise.all(
    driver.subscribers.map(
      async (_, i) => new Float64Array(await Bun.file(`${latencyFile}-${i}.f64`).arrayBuffer()),
    ),
  );
  const summary = summarise(Float64Array.from(latencies.flatMap((l) => Array.from(l))));
  const sum = (pick: (r: CollectReply) => number) => collected.reduce((s, r) => s + pick(r), 0);
  return {
    subscribers,
    accepted: sent.accepted.length,
    perSecond: sent.accepted.length / sent.seconds,
    cpuUsPerWebhook: sent.accepted.length === 0 ? Number.NaN : (cpu / sent.accepted.length) * 1e6,
    p50: summary.p50,
    p99: summary.p99,
    max: summary.max,
    missing: sum((r) => r.missing + r.unexpected + r.closedEarly),
    duplicated: sum((r) => r.duplicated),
    outOfOrder: sum((r) => r.outOfOrder),
    refused: sent.refused,
    firstError:
      sent.firstError ?? collected.find((r) => r.firstOtherStatus !== null)?.firstOtherStatus ?? null,
  };
}

async function withSubscribers<T>(
  driver: Omit<Driver, "subscribers">,
  server: RelayServer,
  count: number,
  body: (driver: Driver) => Promise<T>,
): Promise<T> {
  const processes = count === 1 ? 1 : 2;
  const subscribers = Array.from({ length: processes }, (_, p) =>
    spawnRelayLoad("subscribers", p, DRIVER_CPU),
  );
  try {
    const urls = Array.from({ length: count }, () => server.subscribe.url);
    const replies = await Promise.all(
      subscribers.map((w, p) => {
        w.send({
          cmd: "subscribe",
          urls: urls.filter((_, i) => i % processes === p),
          key: server.subscribe.key,
          secret: server.subscribe.secret,
          concurrency: 16,
          protocol: server.subscribe.protocol,
        });
        return w.next("subscribed", 60_000);
      }),
    );
    const failed = replies.find((r) => r.failed > 0);
    if (failed !== undefined) throw new Error(`${server.name}: subscribers failed: ${failed.firstError}`);
    return await body({ ...driver, subscribers });
  } finally {
    await ask(subscribers, { cmd: "close" }, "closed", 10_000).catch(() => undefined);
    await Promise.all(subscribers.map((w) => w.stop()));
  }
}

/** 1,000 subscribers that connect, authenticate, subscribe and leave, one after another. */
async function cycleSubscribers(server: RelayServer, cycles: number): Promise<void> {
  for (let i = 0; i < cycles; i++) {
    const socket = new WebSocket(server.subscribe.url);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("subscriber cycle timed out")), 10_000);
      socket.onopen = () =>
        socket.send(
          JSON.stringify({ action: "auth", key: server.subscribe.key, secret: server.subscribe.secret }),
        );
      socket.onmessage = (event) => {
        const status = (JSON.parse(String(event.data)) as { status?: string }).status;
        if (status === "authenticated") socket.send(JSON.stringify({ action: "subscribe" }));
        else if (status === "subscribed") {
          clearTimeout(timer);
          resolve();
        }
      };
      socket.onerror = () => reject(new Error("subscriber cycle failed"));
    });
    socket.close();
  }
}

async function measureServer(
  server: RelayServer,
  seconds: number,
  scratch: string,
  log: (line: string) => void,
): Promise<RelayServerResult> {
  const senders = Array.from({ length: SENDER_PROCESSES }, (_, s) => spawnRelayLoad("sender", s, DRIVER_CPU));
  const result: RelayServerResult = {
    name: server.name,
    throughput: [],
    latency: [],
    afterCycles: null,
    cycles: 0,
  };
  const ms = seconds * 1000;
  let base = PHASE_STRIDE;
  const next = () => (base += PHASE_STRIDE);
  try {
    for (const count of SUBSCRIBER_COUNTS) {
      await withSubscribers({ senders, scratch }, server, count, async (driver) => {
        // Warm-up: the JIT, the connections and the store's first pages; then wait for its fan-out.
        const warm = await send(driver, server, 0, 1000);
        await drained(driver.subscribers, warm.accepted.length, false, 30_000);
        const latency = await phase(driver, server, next(), ms, count, LATENCY_RATE);
        result.latency.push(latency);
        log(
          `  ${server.name}, ${count} subscriber(s), ${LATENCY_RATE}/s: p50 ${latency.p50.toFixed(2)} ms, ` +
            `p99 ${latency.p99.toFixed(2)} ms, missing ${latency.missing}`,
        );
        const throughput = await phase(driver, server, next(), ms, count);
        result.throughput.push(throughput);
        log(
          `  ${server.name}, ${count} subscriber(s): ${throughput.perSecond.toFixed(0)} webhooks/s, ` +
            `${throughput.cpuUsPerWebhook.toFixed(1)} µs CPU each, missing ${throughput.missing}, refused ` +
            `${throughput.refused}${throughput.firstError ? ` (${throughput.firstError})` : ""}`,
        );
      });
    }
    if (server.name === "hookstream" || server.name === "baseline") {
      result.cycles = 1000;
      await cycleSubscribers(server, result.cycles);
      result.afterCycles = await withSubscribers({ senders, scratch }, server, 1, (driver) =>
        phase(driver, server, next(), ms, 1),
      );
      log(
        `  after ${result.cycles} subscriber cycles: ${result.afterCycles.perSecond.toFixed(0)} webhooks/s`,
      );
    }
    return result;
  } finally {
    await Promise.all(senders.map((w) => w.stop()));
  }
}

export async function runRelayBench(
  quick: boolean,
  log: (line: string) => void,
  named: readonly RelayServerName[] = RELAY_SERVERS,
): Promise<RelayBenchResult> {
  const baseline = process.env.RELAY_BENCH_BASELINE;
  const only = baseline && named.includes("hookstream") ? [...named, "baseline" as const] : named;
  const scratch = mkdtempSync(join(tmpdir(), "hookstream-relay-bench-"));
  const notes: string[] = [];
  const smee = only.includes("smee") ? ensureSmee(notes) : null;
  for (const note of notes) log(`  ${note}`);
  const seconds = quick ? 2 : 5;
  const result: RelayBenchResult = {
    payloadBytes: payload(0).length,
    seconds,
    rounds: quick ? 1 : ROUNDS,
    servers: [],
    smeeCommit: smee?.commit ?? null,
    baseline: baseline ? describeCheckout(baseline) : null,
    notes,
  };
  const rounds: RelayServerResult[][] = only.map(() => []);
  try {
    for (let round = 0; round < (quick ? 1 : ROUNDS); round++) {
      // Alternating order: a machine that grows busier during the run does not favour one server.
      const order = round % 2 === 0 ? only : [...only].reverse();
      for (const name of order) {
        if (name === "smee" && smee === null) continue;
        log(`relay round ${round + 1}: ${name} (pinned to CPU ${SERVER_CPU}; driver on CPU ${DRIVER_CPU})`);
        const server = await startRelayServer(name, { cpu: SERVER_CPU, scratch, smeeDir: smee?.dir ?? null });
        try {
          rounds[only.indexOf(name)]?.push(await measureServer(server, seconds, scratch, log));
        } finally {
          await server.stop();
        }
      }
    }
    result.servers = rounds.filter((r) => r.length > 0).map(bestOfRounds);
    return result;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** A checkout as the report names it: its commit when it is a git tree, or an archive with `.git-commit`. */
function describeCheckout(dir: string): string {
  const stamped = join(dir, ".git-commit");
  if (existsSync(stamped)) return `commit ${readFileSync(stamped, "utf8").trim()}`;
  const head = Bun.spawnSync(["git", "-C", dir, "rev-parse", "--short", "HEAD"], { stderr: "ignore" });
  const commit = head.exitCode === 0 ? head.stdout.toString().trim() : "";
  return commit === "" ? dir : `commit ${commit}`;
}

/** Per phase the best round (highest rate, lowest p99); losses and refusals summed over every round. */
export function bestOfRounds(rounds: RelayServerResult[]): RelayServerResult {
  const merge = (phases: RelayPhase[], better: (a: RelayPhase, b: RelayPhase) => boolean): RelayPhase => {
    const best = phases.reduce((a, b) => (better(b, a) ? b : a));
    const sum = (pick: (p: RelayPhase) => number) => phases.reduce((total, p) => total + pick(p), 0);
    return {
      ...best,
      missing: sum((p) => p.missing),
      duplicated: sum((p) => p.duplicated),
      outOfOrder: sum((p) => p.outOfOrder),
      refused: sum((p) => p.refused),
      firstError: phases.find((p) => p.firstError !== null)?.firstError ?? null,
    };
  };
  const faster = (a: RelayPhase, b: RelayPhase) => a.perSecond > b.perSecond;
  const sooner = (a: RelayPhase, b: RelayPhase) => a.p99 < b.p99;
  const first = rounds[0] as RelayServerResult;
  const cycled = rounds.flatMap((r) => (r.afterCycles === null ? [] : [r.afterCycles]));
  return {
    name: first.name,
    throughput: first.throughput.map((_, i) =>
      merge(
        rounds.map((r) => r.throughput[i] as RelayPhase),
        faster,
      ),
    ),
    latency: first.latency.map((_, i) =>
      merge(
        rounds.map((r) => r.latency[i] as RelayPhase),
        sooner,
      ),
    ),
    afterCycles: cycled.length === 0 ? null : merge(cycled, faster),
    cycles: first.cycles,
  };
}

if (import.meta.main) {
  const at = process.argv.indexOf("--servers");
  const only = at === -1 ? RELAY_SERVERS : (process.argv[at + 1]?.split(",") as RelayServerName[]);
  const result = await runRelayBench(process.argv.includes("--quick"), console.log, only);
  console.log(JSON.stringify(result, null, 2));
}
