/**
 * Fan-out: 1,000 clients (spread over client processes) each receive every line of a burst. Reports the
 * deliveries per second in total and the server's CPU seconds per million deliveries (its whole process
 * tree for the peers: websocketd's `tail`s do the reading).
 */
import { createLoadGroup } from "../lib/load.ts";
import { raiseInotifyInstances, type ServerName } from "../lib/peers.ts";
import { spawnWriter } from "../lib/writer.ts";
import { available, type BenchContext, socketIoClientOf, withServer } from "./context.ts";

export const FANOUT_CLIENTS = 1000;
const CLIENT_PROCESSES = 2;

export interface FanoutResult {
  server: ServerName;
  clients: number;
  lines: number;
  deliveries: number;
  deliveriesPerSecond: number;
  cpuSeconds: number;
  cpuSecondsPerMillion: number;
  loss: number;
  capped: boolean;
  note: string | null;
}

export async function runFanout(ctx: BenchContext): Promise<FanoutResult[]> {
  const results: FanoutResult[] = [];
  const capMs = ctx.quick ? 20_000 : 45_000;
  for (const name of available(ctx)) {
    // frontail delivers an order of magnitude slower: a smaller burst keeps its run within seconds.
    const lines = (ctx.quick ? 300 : 2000) / (name === "frontail" ? 4 : 1);
    let note: string | null = null;
    let restore = () => {};
    if (name === "websocketd") {
      const raised = raiseInotifyInstances(FANOUT_CLIENTS + 256);
      if (raised === null) note = "fs.inotify.max_user_instances left at its value: tails past it poll";
      else {
        restore = raised.restore;
        if (raised.before < FANOUT_CLIENTS + 256)
          note = `fs.inotify.max_user_instances raised ${raised.before} → ${FANOUT_CLIENTS + 256} for this run`;
      }
    }
    ctx.log(`fan-out ${name}: ${FANOUT_CLIENTS} clients, ${lines} lines`);
    try {
      const result = await withServer(ctx, name, "fanout", async ({ server, logFile }) => {
        const group = createLoadGroup(CLIENT_PROCESSES, ctx.scratch, socketIoClientOf(ctx));
        const writer = spawnWriter();
        try {
          const connected = await group.connect(server.url, server.clientKind, FANOUT_CLIENTS, 120_000);
          if (connected.open !== FANOUT_CLIENTS)
            throw new Error(`${connected.failed} connections failed: ${connected.firstError}`);
          await server.settle(FANOUT_CLIENTS, 60_000);
          await group.expect(0, lines, null);
          const cpuBefore = server.stats().cpuSeconds;
          writer.send({ cmd: "burst", file: logFile, firstSeq: 0, count: lines, batchLines: 100 });
          const written = await writer.next("written", capMs);
          const completedAt = await group.waitComplete(capMs);
          const cpuSeconds = server.stats().cpuSeconds - cpuBefore;
          const load = await group.collect(false);
          const seconds = (load.lastRecvMs - written.startMs) / 1000;
          return {
            server: name,
            clients: FANOUT_CLIENTS,
            lines,
            deliveries: load.received,
            deliveriesPerSecond: load.received / seconds,
            cpuSeconds,
            cpuSecondsPerMillion: (cpuSeconds / load.received) * 1e6,
            loss: load.missing + load.duplicateOrReordered,
            capped: completedAt === null,
            note,
          };
        } finally {
          await writer.stop();
          await group.close();
        }
      });
      ctx.log(
        `  ${Math.round(result.deliveriesPerSecond)} deliveries/s, ${result.cpuSecondsPerMillion.toFixed(2)} CPU s ` +
          `per million, loss ${result.loss}${result.capped ? " (time cap reached)" : ""}`,
      );
      results.push(result);
    } finally {
      restore();
    }
  }
  return results;
}
