/**
 * The log pipe against the floor (lib/floor-server.ts: read appended bytes, cut lines, publish each to one
 * topic) and the work floor (the same, each line also parsed, serialised and journaled), side by side in one
 * run, read by Node `ws` clients in other processes (lib/node-client.mjs):
 * - 50 lines/s to 1 client: append-to-receive latency (websocketd + `tail -F` beside them when installed), in
 *   a fresh server's first seconds and again after LATENCY_WARM_SECONDS of the same trickle;
 * - 50,000 lines/s to 1 client: server CPU per line;
 * - max rate to 1 client (a burst in 1,000-line writes): lines/s, server CPU, latency, peak RSS; and the same
 *   burst to a client that stops reading for STALL_MS after its first STALL_AFTER_LINES lines, so that it falls
 *   behind in every run (hookstream then catches it up from its journal; the floors buffer for it);
 * - 500 clients × 100 lines/s: server CPU per delivery, over the first seconds of lines a fresh server sees
 *   and again after FANOUT_WARM_SECONDS of the same trickle (the per-line code then runs compiled; a server
 *   that has been up a while is in that state).
 * Servers alternate within each round, so a noisy neighbour hits both; the best of the rounds is kept
 * (lowest CPU, highest rate), loss from every round.
 *
 *   bun bench/run.ts --only floor     (writes its own block of docs/benchmarks.md)
 */
import { connectNodeClients } from "./lib/node-clients.ts";
import type { ServerKind, StartOptions } from "./lib/peers.ts";
import { runQueueSeconds, sampleRss } from "./lib/proc.ts";
import { type Summary, summarise } from "./lib/stats.ts";
import { spawnWriter, type WriterRequest } from "./lib/writer.ts";
import { type BenchContext, type ServerRun, withServer } from "./scenarios/context.ts";

export const FLOOR_SCENARIOS = [
  "latency",
  "latency-warm",
  "cpu",
  "max",
  "max-stalled",
  "fanout",
  "fanout-warm",
] as const;
export type FloorScenario = (typeof FLOOR_SCENARIOS)[number];

/** The scenarios measured by their latency, with websocketd beside the floor. */
const isLatency = (scenario: FloorScenario) => scenario === "latency" || scenario === "latency-warm";

export interface FloorRun {
  scenario: FloorScenario;
  server: ServerKind;
  lines: number;
  deliveries: number;
  cpuSeconds: number;
  /** From the first append to the last arrival. */
  seconds: number;
  /** Lines per second one client received, first to last arrival. */
  receiveRate: number;
  /** Lines per second the writer appended: a run whose writer was slower than this is writer-bound. */
  writeRate: number;
  /** Seconds the server was runnable but waiting for a CPU (the machine is shared). */
  runQueueSeconds: number;
  latency: Summary | null;
  peakRssKb: number;
  loss: number;
  firstClose: string | null;
  /** hookstream: times the live socket fell behind and was fed from the journal (/health `lag_events`). */
  lagEvents: number | null;
  /** hookstream: deliveries its live topics made; the others were caught up from the journal. */
  sentLive: number | null;
  /** Rounds this run stands for, and how many of them hookstream's client fell behind in (null: another server). */
  rounds: { of: number; fellBehind: number | null };
}

/**
 * hookstream's count of live sockets switched to catch-up (/health), and of messages its live topics sent
 * (/metrics `messages_sent_total` of `/logs/ws`: the rest of the deliveries came from the journal); null for
 * the other servers.
 */
async function catchUpOf(run: ServerRun): Promise<{ lagEvents: number | null; sentLive: number | null }> {
  if (run.server.name !== "hookstream") return { lagEvents: null, sentLive: null };
  const base = run.server.url.replace("ws://", "http://").replace("/logs/ws", "");
  const health = (await (await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) })).json()) as {
    logs?: { lag_events?: number };
  };
  const metrics = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const sent = /^\S*messages_sent_total\{endpoint="\/logs\/ws"\} (\d+)$/m.exec(metrics);
  return { lagEvents: health.logs?.lag_events ?? null, sentLive: sent === null ? null : Number(sent[1]) };
}

/**
 * The warm fan-out's trickle before its measured window: by then JavaScriptCore has compiled the per-line
 * path (a trickle of 100 lines/s costs a fresh hookstream about a quarter more per delivery in its first
 * 5 s than 10 s later, the floor no more; measured per thread, the difference is the main thread and the
 * JIT's compiler threads).
 */
const FANOUT_WARM_SECONDS = 15;
/**
 * The trickle before the warm latency window. At 50 lines/s a fresh hookstream's p99 falls from about 2.5 ms
 * in its first 10 s to 0.6–0.7 ms from 20 s on (and its p50 from 0.28 to 0.15–0.18 ms), as JavaScriptCore
 * compiles the per-line path: one line every 20 ms takes that long to reach the compilers' thresholds. A
 * server that has been up a while answers like the warm window; a restarted one like the first.
 */
const LATENCY_WARM_SECONDS = 30;
/**
 * The stalled client of "max-stalled": it stops reading for this long once it has this many lines. Half a
 * second of a max-rate burst (tens of MB) is far past hookstream's 4 MiB lag bound, and short beside the burst.
 */
const STALL_AFTER_LINES = 1000;
const STALL_MS = 500;
/** After the warm-up's last append, for its deliveries to finish before the measured window (100 lines/s). */
const WARMUP_SETTLE_MS = 1000;

/** The window's own counts: what the server reported at its end less what it had at its start. */
function since(
  end: { lagEvents: number | null; sentLive: number | null },
  start: { lagEvents: number; sentLive: number },
): { lagEvents: number | null; sentLive: number | null } {
  return {
    lagEvents: end.lagEvents === null ? null : end.lagEvents - start.lagEvents,
    sentLive: end.sentLive === null ? null : end.sentLive - start.sentLive,
  };
}

interface Spec {
  connections: number;
  processes: number;
  pause?: { afterLines: number; ms: number };
  /** Lines of the measured window, after the warm-up's. */
  lines: number;
  latencyFromSeq: number | null;
  load: (file: string) => WriterRequest;
  /** Written before the measured window (its CPU is not counted); the window's seqs follow its lines. */
  warmup?: { lines: number; load: (file: string) => WriterRequest };
}

function specOf(scenario: FloorScenario, quick: boolean): Spec {
  const seconds = quick ? 2 : 4;
  const rate = (linesPerSecond: number, extraSeconds = 0, firstSeq = 0) => {
    const durationMs = (seconds + extraSeconds) * 1000;
    return {
      lines: (linesPerSecond * durationMs) / 1000,
      load: (file: string): WriterRequest => ({ cmd: "rate", file, firstSeq, linesPerSecond, durationMs }),
    };
  };
  switch (scenario) {
    case "latency":
      // The first second warms the path up and is not measured.
      return { connections: 1, processes: 1, latencyFromSeq: 50, ...rate(50, 1) };
    case "latency-warm": {
      // 10 s measured, not 4: 500 samples, so the p99 is not one stalled line.
      const warmup = rate(50, (quick ? 5 : LATENCY_WARM_SECONDS) - seconds);
      return {
        connections: 1,
        processes: 1,
        latencyFromSeq: warmup.lines,
        warmup,
        ...rate(50, quick ? 0 : 10 - seconds, warmup.lines),
      };
    }
    case "cpu":
      return { connections: 1, processes: 1, latencyFromSeq: null, ...rate(50_000) };
    case "max":
    case "max-stalled": {
      const lines = quick ? 100_000 : 300_000;
      return {
        connections: 1,
        processes: 1,
        lines,
        latencyFromSeq: 0,
        load: (file) => ({ cmd: "burst", file, firstSeq: 0, count: lines, batchLines: 1000 }),
        ...(scenario === "max-stalled" ? { pause: { afterLines: STALL_AFTER_LINES, ms: STALL_MS } } : {}),
      };
    }
    case "fanout":
      return { connections: 500, processes: 2, latencyFromSeq: null, ...rate(100) };
    case "fanout-warm": {
      const warmup = rate(100, (quick ? 5 : FANOUT_WARM_SECONDS) - seconds);
      return { connections: 500, processes: 2, latencyFromSeq: null, warmup, ...rate(100, 0, warmup.lines) };
    }
  }
}

/**
 * One run of one scenario; `cpuProfileDir`: hookstream writes a CPU profile there as it exits;
 * `hookstreamRoot`: the hookstream of that checkout runs instead of this one's. In the 50 lines/s scenarios
 * the floors wake on inotify events, as hookstream does: their 2 ms poll would be 500 wake-ups a second,
 * more than a trickle's lines cost, and then the floor would not be the least.
 */
export async function measureFloorRun(
  ctx: BenchContext,
  node: string,
  scenario: FloorScenario,
  server: ServerKind,
  options: Pick<StartOptions, "cpuProfileDir" | "hookstreamRoot"> = {},
) {
  const spec = specOf(scenario, ctx.quick);
  const capMs = 60_000;
  const warmLines = spec.warmup?.lines ?? 0;
  const body = async (run: ServerRun): Promise<FloorRun> => {
    const clients = await connectNodeClients({
      node,
      url: run.server.url,
      connections: spec.connections,
      processes: spec.processes,
      firstSeq: 0,
      count: warmLines + spec.lines,
      latencyFromSeq: spec.latencyFromSeq,
      scratch: ctx.scratch,
      ...(spec.pause === undefined ? {} : { pause: spec.pause }),
    });
    const writer = spawnWriter();
    try {
      await run.server.settle(spec.connections, 30_000);
      let warmCatchUp = { lagEvents: 0, sentLive: 0 };
      if (spec.warmup !== undefined) {
        writer.send(spec.warmup.load(run.logFile));
        await writer.next("written", capMs);
        await Bun.sleep(WARMUP_SETTLE_MS);
        const counts = await catchUpOf(run);
        warmCatchUp = { lagEvents: counts.lagEvents ?? 0, sentLive: counts.sentLive ?? 0 };
      }
      const cpuBefore = run.server.stats().cpuSeconds;
      const queuedBefore = runQueueSeconds(run.server.pid);
      const rss = sampleRss(run.server.pid, run.server.forks);
      writer.send(spec.load(run.logFile));
      const written = await writer.next("written", capMs);
      await clients.waitComplete(capMs);
      const peakRssKb = rss.stop();
      const cpuSeconds = run.server.stats().cpuSeconds - cpuBefore;
      const queued = runQueueSeconds(run.server.pid) - queuedBefore;
      const load = await clients.collect();
      const catchUp = since(await catchUpOf(run), warmCatchUp);
      return {
        scenario,
        server,
        lines: spec.lines,
        deliveries: load.received - warmLines * spec.connections,
        cpuSeconds,
        seconds: (load.lastRecvMs - written.startMs) / 1000,
        receiveRate: load.received / spec.connections / ((load.lastRecvMs - load.firstRecvMs) / 1000),
        writeRate: written.count / ((written.endMs - written.startMs) / 1000),
        runQueueSeconds: queued,
        latency: spec.latencyFromSeq === null ? null : summarise(load.latencies),
        peakRssKb,
        loss: load.missing + load.duplicateOrReordered,
        firstClose: load.firstClose,
        ...catchUp,
        rounds: { of: 1, fellBehind: catchUp.lagEvents === null ? null : Math.min(1, catchUp.lagEvents) },
      };
    } finally {
      await writer.stop();
      await clients.stop();
    }
  };
  return withServer(ctx, server, `floor-${scenario}`, body, {
    ...options,
    floorOnInotify: isLatency(scenario),
  });
}

/** The figure a run of its scenario is read by: the p99 at 50 lines/s, the rate at max rate, else CPU. */
export function figureOf(run: FloorRun): { value: number; unit: string; lowerIsBetter: boolean } {
  if (isLatency(run.scenario))
    return { value: run.latency?.p99 ?? Number.POSITIVE_INFINITY, unit: "ms p99", lowerIsBetter: true };
  if (run.scenario === "max" || run.scenario === "max-stalled")
    return { value: run.receiveRate, unit: "lines/s", lowerIsBetter: false };
  return { value: (run.cpuSeconds * 1e6) / run.deliveries, unit: "µs per delivery", lowerIsBetter: true };
}

/** Whether `a`'s figure is at least as good as `b`'s (runs of one scenario). */
export function asGoodAs(a: FloorRun, b: FloorRun): boolean {
  const [x, y] = [figureOf(a), figureOf(b)];
  return x.lowerIsBetter ? x.value <= y.value : x.value >= y.value;
}

/** Of two runs of one scenario and server, the one whose figure is better: latency, rate or CPU. */
function keptOf(a: FloorRun, b: FloorRun): FloorRun {
  return asGoodAs(a, b) ? a : b;
}

/** Two rounds of one scenario and server as one: the better run's figures, loss and memory from both. */
export function combineRounds(a: FloorRun, b: FloorRun): FloorRun {
  const kept = keptOf(a, b);
  // Loss, memory and falling behind count from every run, not only the kept one.
  const fellBehind =
    a.rounds.fellBehind === null || b.rounds.fellBehind === null
      ? null
      : a.rounds.fellBehind + b.rounds.fellBehind;
  return {
    ...kept,
    loss: a.loss + b.loss,
    peakRssKb: Math.max(a.peakRssKb, b.peakRssKb),
    rounds: { of: a.rounds.of + b.rounds.of, fellBehind },
  };
}

export function describeFloorRun(run: FloorRun): string {
  const cpu = (run.cpuSeconds * 1e6) / run.deliveries;
  const latency =
    run.latency === null ? "" : `, p50 ${run.latency.p50.toFixed(2)} / p99 ${run.latency.p99.toFixed(2)} ms`;
  return (
    `  ${run.server}: ${run.deliveries} deliveries, ${cpu.toFixed(2)} µs CPU each, ` +
    `${Math.round(run.receiveRate)} lines/s to a client (writer ${Math.round(run.writeRate)}/s)${latency}, peak RSS ${(run.peakRssKb / 1024).toFixed(0)} MB, ` +
    `CPU ${((100 * run.cpuSeconds) / run.seconds).toFixed(0)} % and waiting for a CPU ${((100 * run.runQueueSeconds) / run.seconds).toFixed(0)} % of the time, ` +
    `loss ${run.loss}${run.firstClose === null ? "" : `, closed ${run.firstClose}`}` +
    `${run.lagEvents === null ? "" : `, fell behind ${run.lagEvents} times`}` +
    `${run.sentLive === null ? "" : `, ${((100 * run.sentLive) / Math.max(1, run.deliveries)).toFixed(0)} % sent live`}`
  );
}

export interface FloorOptions {
  scenarios: readonly FloorScenario[];
  rounds: number;
}

export async function runFloorBench(ctx: BenchContext, options: FloorOptions): Promise<FloorRun[]> {
  const node = Bun.which("node");
  if (node === null) throw new Error("node is not installed: the floor section reads with Node `ws` clients");
  const kept = new Map<string, FloorRun>();
  for (const scenario of options.scenarios) {
    // The work floor measures a line's cost: it runs in every scenario whose CPU per line is a figure.
    const servers: ServerKind[] = ["floor", "work-floor", "hookstream"];
    if (isLatency(scenario) && ctx.install.websocketd !== null) servers.push("websocketd");
    for (let round = 1; round <= options.rounds; round++) {
      for (const server of servers) {
        ctx.log(`floor ${scenario} ${server} (round ${round})`);
        const run = await measureFloorRun(ctx, node, scenario, server);
        ctx.log(describeFloorRun(run));
        const key = `${scenario} ${server}`;
        const previous = kept.get(key);
        kept.set(key, previous === undefined ? run : combineRounds(previous, run));
      }
    }
  }
  return [...kept.values()];
}
