/**
 * Idle cost: the server's CPU over 5 s with no client and no writes, then with one client and 50 lines/s
 * (a quiet production log), then server RSS with 1,000 and 10,000 open connections and no writes (RSS delta
 * per connection over the server's own RSS before any connection) and the CPU over 5 s with 1,000 idle
 * connections. websocketd is skipped at 10,000 (that would be 10,000 `tail` processes). CPU is the whole
 * process tree's, from /proc schedstat (websocketd's includes its `tail`).
 */
import { createLoadGroup } from "../lib/load.ts";
import { raiseInotifyInstances, type ServerName } from "../lib/peers.ts";
import { memoryKb } from "../lib/proc.ts";
import { spawnWriter } from "../lib/writer.ts";
import { available, type BenchContext, socketIoClientOf, withServer } from "./context.ts";

export const IDLE_STEPS = [1000, 10_000] as const;
/** A quiet log: what a server costs while little happens. */
export const TRICKLE_LINES_PER_SECOND = 50;
/**
 * The trickle is measured twice: over its first window, while the per-line code still runs before the JIT
 * has compiled it hot (the first lines a server ever sees), and again after this long of it, as a server
 * that has been running a while spends it.
 */
const TRICKLE_WARM_MS = 60_000;
const CLIENT_PROCESSES = 2;
/** Let allocations of the connection burst settle (and a GC run) before reading RSS. */
const QUIET_MS = 1500;
/**
 * Bun's GC controller ticks every second until the heap has not changed for 30 ticks, then asks for up to two
 * full collections and ticks every 30 s (measured on this machine: a bare `Bun.serve` spends 1.5 ms per 5 s
 * before, 0 after; hookstream 4 ms, then 0). After 1,000 connections the runtime is still collecting their
 * garbage 45 s later (hookstream: 31 ms per 5 s at 30 s, 5-7 ms at 45 s, 0.9 ms at 90 s). Idle CPU is
 * measured once a server has been left alone this long, the same for every server.
 */
const RUNTIME_SETTLE_MS = 90_000;

export interface IdleStep {
  connections: number;
  /** VmRSS, or summed PSS for servers that fork (see proc.ts). */
  rssKb: number;
  perConnectionBytes: number;
  connectMs: number;
  processes: number;
}

export interface IdleResult {
  server: ServerName;
  baselineRssKb: number;
  steps: IdleStep[];
  idleCpuSeconds: number;
  idleWindowMs: number;
  /** No connection, no writes, over idleWindowMs. */
  noClientCpuSeconds: number;
  /** One client, TRICKLE_LINES_PER_SECOND appended, over idleWindowMs: the trickle's first window. */
  trickleCpuSeconds: number;
  /** The same over a window that starts TRICKLE_WARM_MS into the trickle. */
  trickleWarmCpuSeconds: number;
  /** Lines of the trickle missing, duplicated or reordered at the client. */
  trickleLoss: number;
  /** Connections closed by the server while idle (a heartbeat gone wrong would show here). */
  closedEarly: number;
  skipped: string[];
}

type Server = Parameters<Parameters<typeof withServer>[3]>[0]["server"];

/** The server tree's CPU seconds over `ms` of doing nothing here. */
async function cpuOver(server: Server, ms: number): Promise<number> {
  const before = server.stats().cpuSeconds;
  await Bun.sleep(ms);
  return server.stats().cpuSeconds - before;
}

/**
 * One client connected, TRICKLE_LINES_PER_SECOND appended: the server's CPU over the first `ms` and over `ms`
 * starting `warmMs` later, and the loss over all of it.
 */
async function trickle(
  group: ReturnType<typeof createLoadGroup>,
  server: Server,
  logFile: string,
  ms: number,
  warmMs: number,
): Promise<{ cpuSeconds: number; warmCpuSeconds: number; loss: number }> {
  const connected = await group.connect(server.url, server.clientKind, 1, 30_000);
  if (connected.open !== 1) throw new Error(`the trickle's client failed: ${connected.firstError}`);
  await server.settle(1, 30_000);
  const durationMs = ms + warmMs + ms;
  const lines = Math.round((TRICKLE_LINES_PER_SECOND * durationMs) / 1000);
  await group.expect(0, lines, null);
  const writer = spawnWriter();
  try {
    const written = writer.next("written", durationMs + 10_000);
    writer.send({
      cmd: "rate",
      file: logFile,
      firstSeq: 0,
      linesPerSecond: TRICKLE_LINES_PER_SECOND,
      durationMs,
    });
    const cpuSeconds = await cpuOver(server, ms);
    await Bun.sleep(warmMs);
    const warmCpuSeconds = await cpuOver(server, ms);
    await written;
    await group.waitComplete(5_000);
    const load = await group.collect(false);
    return { cpuSeconds, warmCpuSeconds, loss: load.missing + load.duplicateOrReordered };
  } finally {
    await writer.stop();
  }
}

export async function runIdle(ctx: BenchContext): Promise<IdleResult[]> {
  const results: IdleResult[] = [];
  const idleWindowMs = ctx.quick ? 2000 : 5000;
  const steps = ctx.quick ? [1000, 2000] : [...IDLE_STEPS];
  for (const name of available(ctx)) {
    const skipped: string[] = [];
    let restore = () => {};
    const wanted = name === "websocketd" ? steps.filter((n) => n <= 1000) : steps;
    for (const n of steps)
      if (!wanted.includes(n)) skipped.push(`${n.toLocaleString("en")}: one tail process per connection`);
    if (name === "websocketd") restore = raiseInotifyInstances(1256)?.restore ?? restore;
    try {
      ctx.log(`idle ${name}: ${wanted.join(", ")} connections`);
      const result = await withServer(ctx, name, "idle", async ({ server, logFile }) => {
        const group = createLoadGroup(CLIENT_PROCESSES, ctx.scratch, socketIoClientOf(ctx));
        try {
          await Bun.sleep(QUIET_MS);
          const baselineRssKb = memoryKb(server.stats(), server.forks);
          await Bun.sleep(RUNTIME_SETTLE_MS);
          const noClientCpuSeconds = await cpuOver(server, idleWindowMs);
          ctx.log(
            `  no client, no writes: CPU ${(noClientCpuSeconds * 1000).toFixed(2)} ms over ${idleWindowMs} ms`,
          );
          const warmMs = ctx.quick ? 10_000 : TRICKLE_WARM_MS;
          const trickled = await trickle(group, server, logFile, idleWindowMs, warmMs);
          ctx.log(
            `  1 client, ${TRICKLE_LINES_PER_SECOND} lines/s: CPU ${(trickled.cpuSeconds * 1000).toFixed(1)} ms ` +
              `over its first ${idleWindowMs} ms, ${(trickled.warmCpuSeconds * 1000).toFixed(1)} ms over ` +
              `${idleWindowMs} ms after ${warmMs / 1000} s of it, loss ${trickled.loss}`,
          );
          const measured: IdleStep[] = [];
          let open = 1;
          let idleCpuSeconds = Number.NaN;
          for (const target of wanted) {
            const connected = await group.connect(server.url, server.clientKind, target - open, 180_000);
            open = connected.open;
            if (open !== target)
              throw new Error(`${connected.failed} connections failed: ${connected.firstError}`);
            await server.settle(target, 120_000);
            await Bun.sleep(QUIET_MS);
            const stats = server.stats();
            const rssKb = memoryKb(stats, server.forks);
            measured.push({
              connections: target,
              rssKb,
              perConnectionBytes: ((rssKb - baselineRssKb) * 1024) / target,
              connectMs: connected.ms,
              processes: stats.processes,
            });
            ctx.log(
              `  ${target} connections: ${server.forks ? "PSS of the tree" : "RSS"} ${(rssKb / 1024).toFixed(1)} MiB ` +
                `(${Math.round(((rssKb - baselineRssKb) * 1024) / target)} B/connection)`,
            );
            if (target === 1000) {
              await Bun.sleep(RUNTIME_SETTLE_MS);
              idleCpuSeconds = await cpuOver(server, idleWindowMs);
              ctx.log(`  idle CPU over ${idleWindowMs} ms: ${(idleCpuSeconds * 1000).toFixed(0)} ms`);
            }
          }
          const load = await group.collect(false);
          return {
            server: name,
            baselineRssKb,
            steps: measured,
            idleCpuSeconds,
            idleWindowMs,
            noClientCpuSeconds,
            trickleCpuSeconds: trickled.cpuSeconds,
            trickleWarmCpuSeconds: trickled.warmCpuSeconds,
            trickleLoss: trickled.loss,
            closedEarly: load.closedEarly,
            skipped,
          };
        } finally {
          await group.close();
        }
      });
      results.push(result);
    } finally {
      restore();
    }
  }
  return results;
}
