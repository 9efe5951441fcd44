/**
 * Relay ingest, side by side in one run: a no-store calibration relay (Node `node:http` + `ws`), the durable
 * and SQLite floors (Bun: the least a relay does under hookstream's durability contract), smee.io's own
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
 * Run alone: `bun bench/relay.ts [--quick] [--servers nostore,durable-floor,sqlite-floor,smee,hookstream]`;
 * `bun bench/run.ts --only relay` runs it and writes its block of docs/benchmarks.md.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./lib/peers.ts";
import {
  cycleSubscribers,
  DRIVER_CPU,
  drained,
  phase,
  type RelayPhase,
  send,
  withSubscribers,
} from "./lib/relay-driver.ts";
import { spawnRelayLoad } from "./lib/relay-load.ts";
import {
  ensureSmee,
  RELAY_SERVERS,
  type RelayServer,
  type RelayServerName,
  startRelayServer,
} from "./lib/relay-servers.ts";

/** Sender processes: two, so that signing and sending is not one process's limit. */
const SENDER_PROCESSES = 2;
/** The server's CPU (the driver runs on DRIVER_CPU). */
const SERVER_CPU = "1";
const LATENCY_RATE = 100;
/** Full runs measure every server this many times, in alternating order, and keep each phase's best. */
const ROUNDS = 3;
const SUBSCRIBER_COUNTS = [1, 100] as const;
/** Sequence numbers: each phase starts above the previous one's, so the subscribers tell them apart. */
const PHASE_STRIDE = 10_000_000;

export type { RelayPhase } from "./lib/relay-driver.ts";

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
