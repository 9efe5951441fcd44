/**
 * Redis goes away mid-stream: instances keep their clients connected, and once Redis is back everything
 * resumes by itself — the lines written meanwhile arrive once each, in order, on every instance.
 */
import { describe, expect, test } from "bun:test";
import { appendTo, clusterOf, suiteRedis } from "../helpers/cluster.ts";
import { connectLogs, jsonLine, seqOf, textLine } from "../helpers/logs.ts";
import { redisAvailable } from "../helpers/redis.ts";
import { type TestSocket, waitFor, wsConnect } from "../helpers/ws.ts";

const LEASE_MS = 1000;

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

interface Streamed {
  message: string;
  cursor: string;
}

async function takeEntries(client: TestSocket, count: number): Promise<Streamed[]> {
  return (await client.take(count, 10_000)).map((raw) => JSON.parse(raw) as Streamed);
}

async function takeSeqs(client: TestSocket, count: number, timeoutMs = 20_000): Promise<number[]> {
  const seqs = (await client.take(count, timeoutMs)).map(seqOf);
  expect(client.pending()).toBe(0);
  return seqs;
}

describe.skipIf(!redisAvailable)("cluster mode: Redis restarts", () => {
  const redis = suiteRedis();

  test("lines written while Redis is down arrive once on every instance when it is back", async () => {
    await using cluster = await clusterOf(redis, {
      instances: 2,
      files: { "server.log": "", "webhooks.json": "" },
      leaseMs: LEASE_MS,
    });
    const [a, b] = [cluster.at(0), cluster.at(1)];
    const clients = [await connectLogs(a), await connectLogs(b)];
    const write = (from: number, to: number) => {
      for (let seq = from; seq < to; seq++)
        appendTo(
          cluster.logDir,
          seq % 2 ? "webhooks.json" : "server.log",
          (seq % 2 ? jsonLine : textLine)({ seq }),
        );
    };
    write(0, 50);
    for (const client of clients)
      expect((await takeSeqs(client, 50)).sort((x, y) => x - y)).toEqual(range(0, 50));

    await redis.stop();
    write(50, 100);
    // Longer than the lease: the writer's lease expires while Redis is away.
    await Bun.sleep(LEASE_MS + 200);
    write(100, 150);
    for (const client of clients) expect(client.pending()).toBe(0);
    await redis.start();

    const seen = [];
    for (const client of clients) seen.push(await takeSeqs(client, 100));
    for (const seqs of seen) expect([...seqs].sort((x, y) => x - y)).toEqual(range(50, 150));
    // The same order on both: the cluster's.
    expect(seen[1]).toEqual(seen[0] as number[]);
    write(150, 151);
    for (const client of clients) expect(await takeSeqs(client, 1)).toEqual([150]);
    // Connected all along.
    for (const client of clients) expect(client.socket.readyState).toBe(WebSocket.OPEN);
    for (const client of clients) client.close();
  }, 60_000);

  test("Redis loses its data: a new epoch continues past every journal, and old cursors are reported unknown", async () => {
    await using cluster = await clusterOf(redis, {
      instances: 2,
      files: { "server.log": "" },
      leaseMs: LEASE_MS,
    });
    const [a, b] = [cluster.at(0), cluster.at(1)];
    const { prefix } = cluster;
    const clients = [await connectLogs(a), await connectLogs(b)];
    appendTo(
      cluster.logDir,
      "server.log",
      range(0, 10)
        .map((seq) => textLine({ seq }))
        .join(""),
    );
    const before = (await takeEntries(clients[0] as TestSocket, 10)).at(-1) as Streamed;
    await takeEntries(clients[1] as TestSocket, 10);
    const oldEpoch = await redis.cli("GET", `${prefix}logs:epoch`);

    await redis.cli("FLUSHALL");
    // The writer notices at its next renewal, takes the lease again and its first commit starts a new epoch.
    await waitFor(async () => !["", oldEpoch].includes(await redis.cli("GET", `${prefix}logs:epoch`)), 5000);
    appendTo(
      cluster.logDir,
      "server.log",
      range(10, 20)
        .map((seq) => textLine({ seq }))
        .join(""),
    );
    const after = [];
    for (const client of clients) after.push(await takeEntries(client, 10));
    expect(after[1]).toEqual(after[0] as Streamed[]);
    const first = (after[0] as Streamed[])[0] as Streamed;
    expect(seqOf(JSON.stringify(first))).toBe(10);
    const [epoch, seq] = first.cursor.split("-") as [string, string];
    expect(epoch).not.toBe(oldEpoch);
    // Past the old journal's end, so no seq means two entries.
    expect(Number.parseInt(seq, 16)).toBeGreaterThan(
      Number.parseInt(before.cursor.split("-")[1] as string, 16),
    );

    const resumed = await wsConnect(b.wsUrl(`/logs/ws?cursor=${before.cursor}`));
    expect(await resumed.nextJson()).toMatchObject({ control: "gap", requested: before.cursor });
    expect((await resumed.take(10)).map(seqOf)).toEqual(range(10, 20));
    for (const client of [...clients, resumed]) client.close();
  }, 30_000);
});
