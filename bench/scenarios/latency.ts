/**
 * Append-to-receive latency at a steady 1,000 lines/s for a few seconds, with 1 and with 100 clients: the
 * writer stamps each line when it appends it, every client stamps it when the message arrives.
 */
import { createLoadGroup } from "../lib/load.ts";
import type { ServerName } from "../lib/peers.ts";
import { type Summary, summarise } from "../lib/stats.ts";
import { spawnWriter } from "../lib/writer.ts";
import { available, type BenchContext, socketIoClientOf, withServer } from "./context.ts";

export const LATENCY_LINES_PER_SECOND = 1000;

export interface LatencyResult {
  server: ServerName;
  clients: number;
  lines: number;
  latency: Summary;
  loss: number;
  closedEarly: number;
}

export async function runLatency(ctx: BenchContext, clientCounts: number[]): Promise<LatencyResult[]> {
  const durationMs = ctx.quick ? 2000 : 5000;
  const lines = Math.round((LATENCY_LINES_PER_SECOND * durationMs) / 1000);
  // The first second warms every server's path up (JIT, buffers) and is not measured.
  const warmup = LATENCY_LINES_PER_SECOND;
  const results: LatencyResult[] = [];
  for (const clients of clientCounts) {
    for (const name of available(ctx)) {
      ctx.log(
        `latency ${name}: ${clients} client(s), ${LATENCY_LINES_PER_SECOND} lines/s for ${durationMs} ms`,
      );
      const result = await withServer(ctx, name, `latency${clients}`, async ({ server, logFile }) => {
        const group = createLoadGroup(clients > 1 ? 2 : 1, ctx.scratch, socketIoClientOf(ctx));
        const writer = spawnWriter();
        try {
          const connected = await group.connect(server.url, server.clientKind, clients, 60_000);
          if (connected.open !== clients)
            throw new Error(`${connected.failed} failed: ${connected.firstError}`);
          await server.settle(clients, 30_000);
          await group.expect(0, warmup + lines, warmup);
          writer.send({
            cmd: "rate",
            file: logFile,
            firstSeq: 0,
            linesPerSecond: LATENCY_LINES_PER_SECOND,
            durationMs: durationMs + 1000,
          });
          await writer.next("written", durationMs + 11_000);
          await group.waitComplete(5_000);
          const load = await group.collect(true);
          return {
            server: name,
            clients,
            lines,
            latency: summarise(load.latencies),
            loss: load.missing + load.duplicateOrReordered,
            closedEarly: load.closedEarly,
          };
        } finally {
          await writer.stop();
          await group.close();
        }
      });
      const l = result.latency;
      ctx.log(
        `  p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, max ${l.max.toFixed(3)} ms, loss ${result.loss}`,
      );
      results.push(result);
    }
  }
  return results;
}
