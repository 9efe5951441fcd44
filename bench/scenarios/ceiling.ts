/**
 * The load clients' own limits, measured against a trivial Bun.serve publisher with the same client
 * processes the servers get:
 * - ceiling: how fast they receive (and verify) a pre-serialised stream, with one connection and with 1,000
 *   spread over two processes; a server figure near it is client-limited, not server-limited;
 * - latency floor: publish-to-receive latency at 1,000 messages/s with 1 and 100 connections, so a server's
 *   latency can be read against what the clients themselves add.
 */
import type { ClientKind } from "../lib/client.ts";
import { createLoadGroup } from "../lib/load.ts";
import { spawnPublisher } from "../lib/publisher.ts";
import { type Summary, summarise } from "../lib/stats.ts";
import { type BenchContext, socketIoClientOf } from "./context.ts";
import { LATENCY_LINES_PER_SECOND } from "./latency.ts";

export interface LatencyFloor {
  clients: number;
  latency: Summary;
}

export interface CeilingResult {
  kind: ClientKind;
  /** Messages per second one connection receives. */
  single: number;
  /** Messages per second 1,000 connections receive in total. */
  fanout: number;
  fanoutClients: number;
  floors: LatencyFloor[];
  loss: number;
}

type Load = { kind: "burst"; count: number } | { kind: "rate"; count: number; warmup: number };

async function measure(
  ctx: BenchContext,
  kind: ClientKind,
  clients: number,
  load: Load,
): Promise<{ rate: number; loss: number; latencies: Float64Array }> {
  const publisher = spawnPublisher();
  const group = createLoadGroup(clients > 1 ? 2 : 1, ctx.scratch, socketIoClientOf(ctx));
  try {
    publisher.send({ cmd: "listen", mode: kind === "ws" ? "ws" : "socketio" });
    const { url } = await publisher.next("listening", 10_000);
    const connected = await group.connect(url, kind, clients, 60_000);
    if (connected.open !== clients)
      throw new Error(`ceiling: ${connected.failed} failed (${connected.firstError})`);
    await Bun.sleep(200);
    if (load.kind === "burst") {
      await group.expect(0, load.count, null);
      publisher.send({ cmd: "burst", firstSeq: 0, count: load.count });
    } else {
      await group.expect(0, load.count, load.warmup);
      publisher.send({ cmd: "rate", firstSeq: 0, perSecond: LATENCY_LINES_PER_SECOND, count: load.count });
    }
    await publisher.next("sent", 120_000);
    await group.waitComplete(30_000);
    const result = await group.collect(load.kind === "rate");
    const seconds = (result.lastRecvMs - result.firstRecvMs) / 1000;
    return {
      rate: result.received / seconds,
      loss: result.missing + result.duplicateOrReordered,
      latencies: result.latencies,
    };
  } finally {
    await group.close();
    await publisher.stop();
  }
}

export async function runCeiling(ctx: BenchContext, kinds: ClientKind[]): Promise<CeilingResult[]> {
  const results: CeilingResult[] = [];
  for (const kind of kinds) {
    const singleCount = ctx.quick ? 50_000 : kind === "ws" ? 300_000 : 100_000;
    const fanoutClients = 1000;
    const fanoutCount = ctx.quick ? 300 : 2000;
    ctx.log(`ceiling ${kind}: 1 client, ${singleCount} messages`);
    const single = await measure(ctx, kind, 1, { kind: "burst", count: singleCount });
    ctx.log(`ceiling ${kind}: ${fanoutClients} clients in 2 processes, ${fanoutCount} messages`);
    const fanout = await measure(ctx, kind, fanoutClients, { kind: "burst", count: fanoutCount });
    ctx.log(`  ${kind}: single ${Math.round(single.rate)}/s, fan-out ${Math.round(fanout.rate)}/s`);
    const floors: LatencyFloor[] = [];
    let loss = single.loss + fanout.loss;
    const seconds = ctx.quick ? 1 : 2;
    for (const clients of [1, 100]) {
      const warmup = LATENCY_LINES_PER_SECOND / 2;
      const count = warmup + LATENCY_LINES_PER_SECOND * seconds;
      const floor = await measure(ctx, kind, clients, { kind: "rate", count, warmup });
      const latency = summarise(floor.latencies);
      floors.push({ clients, latency });
      loss += floor.loss;
      ctx.log(
        `  ${kind} latency floor, ${clients} clients: p50 ${latency.p50.toFixed(3)} ms, p99 ${latency.p99.toFixed(3)} ms`,
      );
    }
    results.push({ kind, single: single.rate, fanout: fanout.rate, fanoutClients, floors, loss });
  }
  return results;
}
