/**
 * Idle connections: server RSS with 1,000 and then 10,000 open connections and no writes (RSS delta per
 * connection over the server's own RSS before any connection), and the server's CPU over 5 s with 1,000
 * idle connections. websocketd is skipped at 10,000 (that would be 10,000 `tail` processes).
 */
import { createLoadGroup } from "../lib/load.ts";
import { raiseInotifyInstances, type ServerName } from "../lib/peers.ts";
import { memoryKb } from "../lib/proc.ts";
import { available, type BenchContext, socketIoClientOf, withServer } from "./context.ts";

export const IDLE_STEPS = [1000, 10_000] as const;
const CLIENT_PROCESSES = 2;
/** Let allocations of the connection burst settle (and a GC run) before reading RSS. */
const QUIET_MS = 1500;

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
  /** Connections closed by the server while idle (a heartbeat gone wrong would show here). */
  closedEarly: number;
  skipped: string[];
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
      const result = await withServer(ctx, name, "idle", async ({ server }) => {
        const group = createLoadGroup(CLIENT_PROCESSES, ctx.scratch, socketIoClientOf(ctx));
        try {
          await Bun.sleep(QUIET_MS);
          const baselineRssKb = memoryKb(server.stats(), server.forks);
          const measured: IdleStep[] = [];
          let open = 0;
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
              const before = server.stats().cpuSeconds;
              await Bun.sleep(idleWindowMs);
              idleCpuSeconds = server.stats().cpuSeconds - before;
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
