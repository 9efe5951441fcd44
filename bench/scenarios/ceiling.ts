/**
 * The load clients' own ceiling: how fast the same client processes receive (and verify) a pre-serialised
 * stream from a trivial Bun.serve publisher, with one connection and with 1,000 spread over the client
 * processes. A server figure close to this is client-limited, not server-limited.
 */
import type { ClientKind } from "../lib/client.ts";
import { createLoadGroup } from "../lib/load.ts";
import { spawnPublisher } from "../lib/publisher.ts";
import { type BenchContext, socketIoClientOf } from "./context.ts";

export interface CeilingResult {
  kind: ClientKind;
  /** Messages per second one connection receives. */
  single: number;
  /** Messages per second 1,000 connections receive in total. */
  fanout: number;
  fanoutClients: number;
  loss: number;
}

async function measure(
  ctx: BenchContext,
  kind: ClientKind,
  clients: number,
  processes: number,
  count: number,
): Promise<{ rate: number; loss: number }> {
  const publisher = spawnPublisher();
  const group = createLoadGroup(processes, ctx.scratch, socketIoClientOf(ctx));
  try {
    publisher.send({ cmd: "listen", mode: kind === "ws" ? "ws" : "socketio" });
    const { url } = await publisher.next("listening", 10_000);
    const connected = await group.connect(url, kind, clients, 60_000);
    if (connected.open !== clients)
      throw new Error(`ceiling: ${connected.failed} failed (${connected.firstError})`);
    await Bun.sleep(200);
    await group.expect(0, count, null);
    publisher.send({ cmd: "burst", firstSeq: 0, count });
    await publisher.next("sent", 120_000);
    await group.waitComplete(30_000);
    const result = await group.collect(false);
    const seconds = (result.lastRecvMs - result.firstRecvMs) / 1000;
    return { rate: result.received / seconds, loss: result.missing + result.duplicateOrReordered };
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
    const single = await measure(ctx, kind, 1, 1, singleCount);
    ctx.log(`ceiling ${kind}: ${fanoutClients} clients in 2 processes, ${fanoutCount} messages`);
    const fanout = await measure(ctx, kind, fanoutClients, 2, fanoutCount);
    results.push({
      kind,
      single: single.rate,
      fanout: fanout.rate,
      fanoutClients,
      loss: single.loss + fanout.loss,
    });
    ctx.log(`  ${kind}: single ${Math.round(single.rate)}/s, fan-out ${Math.round(fanout.rate)}/s`);
  }
  return results;
}
