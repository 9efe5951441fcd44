/**
 * Writer failover: when the instance holding the writer lease stops (cleanly or killed), another instance that
 * sees the directory takes over within the lease time and continues exactly where the last committed batch
 * ended — every line once, none lost.
 */
import { describe, expect, test } from "bun:test";
import { rmSync, symlinkSync, unlinkSync, utimesSync } from "node:fs";
import {
  appendTo,
  clusterEnv,
  clusterOf,
  leaseHolder,
  sharedLogDir,
  suiteRedis,
  waitForLeaseHolder,
} from "../helpers/cluster.ts";
import { connectLogs, seqOf, textLine } from "../helpers/logs.ts";
import { redisAvailable, type TestRedis } from "../helpers/redis.ts";
import { spawnInstance } from "../helpers/relay-cluster.ts";
import { type TestSocket, waitFor, wsConnect } from "../helpers/ws.ts";

const LEASE_MS = 1000;

const lines = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => textLine({ seq: from + i })).join("");

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Takes `count` entries and checks that nothing else is queued behind them. */
async function takeSeqs(client: TestSocket, count: number, timeoutMs = 15_000): Promise<number[]> {
  const seqs = (await client.take(count, timeoutMs)).map(seqOf);
  expect(client.pending()).toBe(0);
  return seqs;
}

/** The instance id in /health is not exposed yet: the lease value names it, read before and after. */
async function holderOf(redis: TestRedis, prefix: string): Promise<string> {
  return (await waitForLeaseHolder(redis, prefix, (holder) => holder !== null)) as string;
}

/** The offset committed in Redis for the one file of the log directory. */
async function committedOffset(redis: TestRedis, prefix: string): Promise<number | null> {
  const values = (await redis.cli("HVALS", `${prefix}logs:positions`))
    .split("\n")
    .filter((value) => value.startsWith("{"));
  return values.length === 1 ? (JSON.parse(values[0] as string) as { offset: number }).offset : null;
}

/** Appends lines one at a time, each after the previous one streamed: one read step per line. */
async function writeSlowly(dir: string, client: TestSocket, from: number, to: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let seq = from; seq < to; seq++) {
    appendTo(dir, "server.log", lines(seq, seq + 1));
    seqs.push(seqOf(await client.next()));
    await Bun.sleep(10);
  }
  return seqs;
}

describe.skipIf(!redisAvailable)("cluster mode: writer failover", () => {
  const redis = suiteRedis();

  /** A real server process on the directory, started first so it takes the writer lease: it can be killed. */
  const spawnWriter = (prefix: string, logDir: string) =>
    spawnInstance({
      ...clusterEnv(redis, prefix),
      LOG_DIR: logDir,
      LOG_POLL_INTERVAL_MS: "50",
      CLUSTER_LEASE_MS: String(LEASE_MS),
    });

  test("the writer shuts down: the other instance takes over at once and misses nothing", async () => {
    await using cluster = await clusterOf(redis, { files: { "server.log": "" }, leaseMs: LEASE_MS });
    const { prefix, logDir } = cluster;
    const a = await cluster.add();
    const writer = await holderOf(redis, prefix);
    const b = await cluster.add();
    const client = await connectLogs(b);
    appendTo(logDir, "server.log", lines(0, 50));
    expect(await takeSeqs(client, 50)).toEqual(range(0, 50));

    await a.shutdown();
    const stoppedAt = Date.now();
    appendTo(logDir, "server.log", lines(50, 100));
    // The lease was released: B takes it at its next tick, well within the lease time.
    await waitForLeaseHolder(redis, prefix, (holder) => holder !== null && holder !== writer, LEASE_MS);
    expect(await takeSeqs(client, 50)).toEqual(range(50, 100));
    // Before the lease could have expired: it was handed over, not waited out.
    expect(Date.now() - stoppedAt).toBeLessThan(LEASE_MS);
    appendTo(logDir, "server.log", lines(100, 101));
    expect(await takeSeqs(client, 1)).toEqual([100]);
    client.close();
  }, 30_000);

  test("a slowly written log: its committed position follows every line, and a handover repeats none", async () => {
    await using cluster = await clusterOf(redis, { files: { "server.log": "" }, leaseMs: LEASE_MS });
    const { prefix, logDir } = cluster;
    const a = await cluster.add();
    const writer = await holderOf(redis, prefix);
    const b = await cluster.add();
    const client = await connectLogs(b);
    expect(await writeSlowly(logDir, client, 0, 10)).toEqual(range(0, 10));
    const size = Bun.file(`${logDir}/server.log`).size;
    await waitFor(async () => (await committedOffset(redis, prefix)) === size, 5000, "committed offset");

    await a.shutdown();
    await waitForLeaseHolder(redis, prefix, (holder) => holder !== null && holder !== writer, LEASE_MS);
    // A sentinel: anything read again by the new writer would arrive before it.
    appendTo(logDir, "server.log", lines(10, 11));
    expect(await takeSeqs(client, 1)).toEqual([10]);
    expect(await writeSlowly(logDir, client, 11, 15)).toEqual(range(11, 15));
    const end = Bun.file(`${logDir}/server.log`).size;
    await waitFor(async () => (await committedOffset(redis, prefix)) === end, 5000, "committed offset");
    client.close();
  }, 30_000);

  test("a slowly written log: a killed writer's successor repeats none of its lines", async () => {
    await using cluster = await clusterOf(redis, { files: { "server.log": "" }, leaseMs: LEASE_MS });
    const { prefix, logDir } = cluster;
    await using proc = await spawnWriter(prefix, logDir);
    const writer = await holderOf(redis, prefix);
    const b = await cluster.add();
    const client = await connectLogs(b);
    expect(await writeSlowly(logDir, client, 0, 10)).toEqual(range(0, 10));
    const size = Bun.file(`${logDir}/server.log`).size;
    await waitFor(async () => (await committedOffset(redis, prefix)) === size, 5000, "committed offset");

    proc.process.kill("SIGKILL");
    await proc.process.exited;
    await waitForLeaseHolder(redis, prefix, (holder) => holder !== null && holder !== writer, 3 * LEASE_MS);
    appendTo(logDir, "server.log", lines(10, 11));
    expect(await takeSeqs(client, 1)).toEqual([10]);
    client.close();
  }, 30_000);

  for (const { name, files } of [
    { name: "", files: { "server.log": lines(900, 910) } },
    { name: " (the directory was empty at the first start)", files: {} },
  ])
    test(`a file created while no writer holds the lease is read from its start${name}`, async () => {
      await using cluster = await clusterOf(redis, { files, leaseMs: LEASE_MS });
      const { prefix, logDir } = cluster;
      await using proc = await spawnWriter(prefix, logDir);
      const writer = await holderOf(redis, prefix);
      const b = await cluster.add();
      const client = await connectLogs(b);

      proc.process.kill("SIGKILL");
      await proc.process.exited;
      appendTo(logDir, "late.log", lines(0, 5));
      expect(await leaseHolder(redis, prefix)).toBe(writer);
      await waitForLeaseHolder(redis, prefix, (holder) => holder !== null && holder !== writer, 3 * LEASE_MS);
      appendTo(logDir, "late.log", lines(5, 6));
      // Lines present at the first writer's start (900…) stay unstreamed, as in single mode.
      expect(await takeSeqs(client, 6)).toEqual(range(0, 6));
      client.close();
    }, 30_000);

  test("a later writer does not stream old files its predecessor never named: only what changed since", async () => {
    using first = sharedLogDir();
    using second = sharedLogDir();
    // One prefix, a directory for each instance: the first stops before the second starts.
    await using cluster = await clusterOf(redis, { sharedLogDir: false, leaseMs: LEASE_MS });
    appendTo(first.path, "server.log", "");
    const a = await cluster.add({ logDir: first.path });
    const firstClient = await connectLogs(a);
    appendTo(first.path, "server.log", lines(0, 2));
    expect(await takeSeqs(firstClient, 2)).toEqual([0, 1]);
    firstClient.close();
    await a.shutdown();
    // Another directory, much later: its old file was never wanted, a file written since then is new.
    appendTo(second.path, "history.log", lines(100, 105));
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(`${second.path}/history.log`, hourAgo, hourAgo);
    const b = await cluster.add({ logDir: second.path });
    const client = await connectLogs(b);
    appendTo(second.path, "history.log", lines(105, 106));
    expect(await takeSeqs(client, 1)).toEqual([105]);
    // The whole shared history, as any instance mirrors it: A's lines, then only the new one.
    const history = await wsConnect(b.wsUrl("/logs/ws?tail=100"));
    expect((await history.take(3)).map(seqOf)).toEqual([0, 1, 105]);
    expect(JSON.parse(await history.next())).toEqual({ control: "live" });
    history.close();
    client.close();
  }, 30_000);

  test("a writer that loses the directory hands the lease to an instance that still sees it", async () => {
    await using cluster = await clusterOf(redis, { files: { "server.log": "" }, leaseMs: LEASE_MS });
    const { prefix, logDir } = cluster;
    // A reaches the directory through a link (a mount, say), B directly; removing the link takes it from A only.
    const link = `${logDir}-link`;
    symlinkSync(logDir, link);
    try {
      const a = await cluster.add({ logDir: link, env: { LOG_POLL_INTERVAL_MS: "50" } });
      const writer = await holderOf(redis, prefix);
      const b = await cluster.add();
      const client = await connectLogs(a);
      appendTo(logDir, "server.log", lines(0, 2));
      expect(await takeSeqs(client, 2)).toEqual([0, 1]);
      unlinkSync(link);
      await waitForLeaseHolder(redis, prefix, (holder) => holder !== null && holder !== writer, 5 * LEASE_MS);
      // The lease is B's in Redis a moment before B's term begins (it reads the positions first).
      await waitFor(
        async () => {
          const health = (await (await fetch(b.httpUrl("/health"))).json()) as {
            cluster: { logs: { writer: boolean } };
          };
          return health.cluster.logs.writer;
        },
        LEASE_MS,
        "B writing",
      );
      appendTo(logDir, "server.log", lines(2, 4));
      // A still streams the shared stream to its clients; B now writes it.
      expect(await takeSeqs(client, 2)).toEqual([2, 3]);
      client.close();
    } finally {
      rmSync(link, { force: true });
    }
  }, 30_000);

  test("the writer process is killed mid-burst: the other takes over within the lease, every line once", async () => {
    await using cluster = await clusterOf(redis, { files: { "server.log": "" }, leaseMs: LEASE_MS });
    const { prefix, logDir } = cluster;
    await using proc = await spawnWriter(prefix, logDir);
    const writer = await holderOf(redis, prefix);
    const b = await cluster.add();
    expect(await holderOf(redis, prefix)).toBe(writer);
    const client = await connectLogs(b);
    const onProcess = await wsConnect(proc.wsUrl("/logs/ws"));
    appendTo(logDir, "server.log", lines(0, 50));
    expect(await takeSeqs(client, 50)).toEqual(range(0, 50));
    expect((await onProcess.take(50)).map(seqOf)).toEqual(range(0, 50));

    // A burst (2 MB, several read steps and batches), and the kill once part of it is committed.
    appendTo(logDir, "server.log", lines(50, 20_050));
    expect(seqOf(await client.next())).toBe(50);
    proc.process.kill("SIGKILL");
    await proc.process.exited;
    const killedAt = Date.now();
    expect(Number(await redis.cli("GET", `${prefix}logs:seq`))).toBeLessThan(20_050);
    appendTo(logDir, "server.log", lines(20_050, 20_100));
    expect(await takeSeqs(client, 20_049)).toEqual(range(51, 20_100));
    expect(Date.now() - killedAt).toBeLessThan(LEASE_MS + LEASE_MS / 3 + 1000);
    expect(await holderOf(redis, prefix)).not.toBe(writer);
    client.close();
  }, 30_000);
});
