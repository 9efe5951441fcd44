/**
 * The highest rate one client receives: the writer appends N lines as fast as it can (batches of 1,000),
 * the client verifies every sequence number arrives once and in order and times first to last arrival.
 * The server's peak RSS (its whole process tree for the peers) is sampled meanwhile.
 */
import { createLoadGroup } from "../lib/load.ts";
import type { ServerName } from "../lib/peers.ts";
import { sampleRss } from "../lib/proc.ts";
import { spawnWriter } from "../lib/writer.ts";
import { available, type BenchContext, type ServerRun, socketIoClientOf, withServer } from "./context.ts";

/** Lines per `write` call of the burst: about 300 KB. */
const BATCH_LINES = 1000;

export interface MaxRateResult {
  server: ServerName;
  lines: number;
  received: number;
  /** Lines per second from the first to the last arrival. */
  receiveRate: number;
  /** Lines per second from the first append to the last arrival. */
  endToEndRate: number;
  writeRate: number;
  peakRssKb: number;
  cpuSeconds: number;
  loss: number;
  /** True when the client did not get every line within the time cap. */
  capped: boolean;
  firstClose: string | null;
  longestGapMs: number;
  /** Runs made; the rate is the best of them, memory, loss and gaps the worst. */
  runs: number;
}

export function maxRateLines(ctx: BenchContext, name: ServerName): number {
  if (ctx.quick) return name === "frontail" ? 20_000 : 100_000;
  return name === "frontail" ? 100_000 : 500_000;
}

export async function measureMaxRate(ctx: BenchContext, run: ServerRun, lines: number, capMs: number) {
  const { server, logFile } = run;
  const group = createLoadGroup(1, ctx.scratch, socketIoClientOf(ctx));
  const writer = spawnWriter();
  try {
    const connected = await group.connect(server.url, server.clientKind, 1, 30_000);
    if (connected.open !== 1) throw new Error(`connect failed: ${connected.firstError}`);
    await server.settle(1, 10_000);
    await group.expect(0, lines, null);
    const cpuBefore = server.stats().cpuSeconds;
    const rss = sampleRss(server.pid, server.forks);
    writer.send({ cmd: "burst", file: logFile, firstSeq: 0, count: lines, batchLines: BATCH_LINES });
    const written = await writer.next("written", capMs);
    const completedAt = await group.waitComplete(capMs);
    const peakRssKb = rss.stop();
    const cpuSeconds = server.stats().cpuSeconds - cpuBefore;
    const load = await group.collect(false);
    const receiveSeconds = (load.lastRecvMs - load.firstRecvMs) / 1000;
    return {
      lines,
      received: load.received,
      receiveRate: load.received / receiveSeconds,
      endToEndRate: load.received / ((load.lastRecvMs - written.startMs) / 1000),
      writeRate: written.count / ((written.endMs - written.startMs) / 1000),
      peakRssKb,
      cpuSeconds,
      loss: load.missing + load.duplicateOrReordered,
      capped: completedAt === null,
      firstClose: load.firstClose,
      longestGapMs: load.longestGapMs,
    };
  } finally {
    await writer.stop();
    await group.close();
  }
}

/** Runs per server; the best rate is kept (a noisy neighbour only ever slows a run down). */
export function maxRateRepetitions(ctx: BenchContext): number {
  return ctx.quick ? 1 : 2;
}

export async function runMaxRate(ctx: BenchContext): Promise<MaxRateResult[]> {
  const results: MaxRateResult[] = [];
  const capMs = ctx.quick ? 20_000 : 40_000;
  for (const name of available(ctx)) {
    const lines = maxRateLines(ctx, name);
    const runs: Awaited<ReturnType<typeof measureMaxRate>>[] = [];
    for (let rep = 1; rep <= maxRateRepetitions(ctx); rep++) {
      ctx.log(`max rate ${name} (run ${rep}): ${lines} lines as fast as the writer can, 1 client`);
      const result = await withServer(ctx, name, "maxrate", (run) => measureMaxRate(ctx, run, lines, capMs));
      ctx.log(
        `  ${Math.round(result.receiveRate)} lines/s received (writer ${Math.round(result.writeRate)}/s), ` +
          `peak memory ${(result.peakRssKb / 1024).toFixed(1)} MiB, loss ${result.loss}, ` +
          `longest gap ${result.longestGapMs.toFixed(0)} ms` +
          `${result.capped ? " (time cap reached)" : ""}${result.firstClose ? `, closed: ${result.firstClose}` : ""}`,
      );
      runs.push(result);
    }
    const best = runs.reduce((a, b) => (b.receiveRate > a.receiveRate ? b : a));
    results.push({
      server: name,
      ...best,
      // Memory, loss and stalls count from every run, not only the fastest.
      peakRssKb: Math.max(...runs.map((r) => r.peakRssKb)),
      loss: runs.reduce((sum, r) => sum + r.loss, 0),
      capped: runs.some((r) => r.capped),
      longestGapMs: Math.max(...runs.map((r) => r.longestGapMs)),
      runs: runs.length,
    });
  }
  return results;
}
