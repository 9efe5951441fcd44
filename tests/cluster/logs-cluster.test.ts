/**
 * Cluster mode of the log stream: instances sharing one Redis behave as one server — every entry once on
 * every instance, the same cursors everywhere, backfill and resume across instances.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { logKeys } from "../../src/cluster/log-scripts.ts";
import { appendTo, clusterOf, leaseHolder, suiteRedis } from "../helpers/cluster.ts";
import { connectLogs, jsonLine, seqOf, textLine } from "../helpers/logs.ts";
import { redisAvailable } from "../helpers/redis.ts";
import { type TestSocket, wsConnect } from "../helpers/ws.ts";

interface Streamed {
  message: string;
  cursor: string;
}

const parse = (raw: string) => JSON.parse(raw) as Streamed;
const LIVE = { control: "live" };

/** Takes `count` entries and checks that nothing else is queued behind them. */
async function takeExactly(client: TestSocket, count: number, timeoutMs = 10_000): Promise<Streamed[]> {
  const entries = (await client.take(count, timeoutMs)).map(parse);
  expect(client.pending()).toBe(0);
  return entries;
}

describe.skipIf(!redisAvailable)("cluster mode: one stream across instances", () => {
  const redis = suiteRedis();

  test("two instances sharing the directory: each line once on both, with the same cursor", async () => {
    await using cluster = await clusterOf(redis, {
      instances: 2,
      files: { "server.log": "", "webhooks.json": "" },
    });
    const [a, b] = [cluster.at(0), cluster.at(1)];
    const writers = new Set([await leaseHolder(redis, cluster.prefix)]);
    expect(writers.size).toBe(1);
    const onA = await connectLogs(a);
    const onB = await connectLogs(b);
    for (let i = 0; i < 100; i++) {
      appendTo(
        cluster.logDir,
        i % 2 === 0 ? "server.log" : "webhooks.json",
        (i % 2 ? jsonLine : textLine)({ seq: i }),
      );
      if (i % 10 === 0) await Bun.sleep(1);
    }
    const seenA = await onA.take(100, 10_000);
    const seenB = await onB.take(100, 10_000);
    expect(seenB).toEqual(seenA);
    expect(new Set(seenA.map(seqOf)).size).toBe(100);
    expect(new Set(seenA.map((m) => parse(m).cursor)).size).toBe(100);
    // A sentinel: nothing else was queued on either side.
    appendTo(cluster.logDir, "server.log", textLine({ seq: 1000 }));
    expect(seqOf(await onA.next())).toBe(1000);
    expect(seqOf(await onB.next())).toBe(1000);
    onA.close();
    onB.close();
  }, 30_000);

  test("CLUSTER_LOG_STREAM_FORMAT=entries: one stream entry per log entry, in the form an earlier version reads", async () => {
    await using cluster = await clusterOf(redis, {
      instances: 2,
      files: { "server.log": "" },
      env: { CLUSTER_LOG_STREAM_FORMAT: "entries" },
    });
    const onA = await connectLogs(cluster.at(0));
    const onB = await connectLogs(cluster.at(1));
    // One write: the writer reads it as one batch, which it would otherwise append as one stream entry.
    appendTo(
      cluster.logDir,
      "server.log",
      Array.from({ length: 50 }, (_, i) => textLine({ seq: i })).join(""),
    );
    const seenA = await onA.take(50, 10_000);
    expect((await onB.take(50, 10_000)).map(seqOf)).toEqual(seenA.map(seqOf));
    expect(seenA.map(seqOf)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const stream = logKeys(cluster.prefix).stream;
    expect(await redis.cli("XLEN", stream)).toBe("50");
    // `<seq>-0` with ep and e of one entry, no count: what an instance before batches splits nothing of.
    const [id, ...fields] = (await redis.cli("XRANGE", stream, "-", "+", "COUNT", "1")).split("\n");
    expect(id).toBe("1-0");
    expect(fields.filter((_, i) => i % 2 === 0)).toEqual(["ep", "m", "e"]);
    expect(seqOf(JSON.stringify(JSON.parse(fields[5] as string)))).toBe(0);
    onA.close();
    onB.close();
  }, 30_000);

  test("an instance that cannot see the log directory streams its entries too", async () => {
    const elsewhere = join(mkdtempSync(join(tmpdir(), "hookstream-nodir-")), "missing");
    await using cluster = await clusterOf(redis, { instances: 1, files: { "server.log": "" } });
    const c = await cluster.add({ logDir: elsewhere });
    const client = await connectLogs(c, "level=ERROR");
    appendTo(cluster.logDir, "server.log", textLine({ seq: 1, level: "ERROR" }) + textLine({ seq: 2 }));
    appendTo(cluster.logDir, "server.log", textLine({ seq: 3, level: "ERROR" }));
    // The first message is an entry: not "Log directory not found", since the writer sees it.
    expect((await client.take(2)).map(seqOf)).toEqual([1, 3]);
    const health = (await (await fetch(c.httpUrl("/health"))).json()) as {
      log_directory: { exists: boolean };
    };
    expect(health.log_directory.exists).toBe(true);
    client.close();
    rmSync(elsewhere, { recursive: true, force: true });
  }, 30_000);
});

describe.skipIf(!redisAvailable)("cluster mode: backfill and resume across instances", () => {
  const redis = suiteRedis();

  test("tail, since and cursor on B answer from entries written through A, then go live", async () => {
    await using cluster = await clusterOf(redis, { instances: 1, files: { "server.log": "" } });
    const a = cluster.at(0);
    const onA = await connectLogs(a);
    // One millisecond apart (the seq is the microsecond), so `since` can split them.
    appendTo(
      cluster.logDir,
      "server.log",
      Array.from({ length: 20 }, (_, i) => textLine({ seq: i * 1000 })).join(""),
    );
    const written = await takeExactly(onA, 20);
    // B starts after the entries were written: it copies them from the stream.
    const b = await cluster.add();
    const tail = await wsConnect(b.wsUrl("/logs/ws?tail=5"));
    const since = await wsConnect(b.wsUrl("/logs/ws?since=2026-11-23T10:00:00.010Z"));
    const cursor = await wsConnect(b.wsUrl(`/logs/ws?cursor=${(written[7] as Streamed).cursor}`));
    const tailed = (await tail.take(5)).map(parse);
    expect(tailed).toEqual(written.slice(15));
    expect((await since.take(10)).map(parse)).toEqual(written.slice(10));
    expect((await cursor.take(12)).map(parse)).toEqual(written.slice(8));
    for (const client of [tail, since, cursor]) expect(await client.nextJson()).toEqual(LIVE);
    appendTo(cluster.logDir, "server.log", textLine({ seq: 20 }));
    const live = parse(await onA.next());
    for (const client of [tail, since, cursor]) expect(parse(await client.next())).toEqual(live);
    for (const client of [onA, tail, since, cursor]) client.close();
  }, 30_000);

  test("a client of A resumes on B with its last cursor: nothing lost, nothing twice", async () => {
    await using cluster = await clusterOf(redis, { instances: 2, files: { "webhooks.json": "" } });
    const [a, b] = [cluster.at(0), cluster.at(1)];
    const onA = await connectLogs(a, "level=ERROR");
    const lines = Array.from({ length: 60 }, (_, i) => jsonLine({ seq: i, level: i % 3 ? "INFO" : "ERROR" }));
    appendTo(cluster.logDir, "webhooks.json", lines.slice(0, 20).join(""));
    const seen = await takeExactly(onA, 7);
    expect(seen.map((e) => seqOf(JSON.stringify(e)))).toEqual([0, 3, 6, 9, 12, 15, 18]);
    onA.close();
    await onA.closed;
    appendTo(cluster.logDir, "webhooks.json", lines.slice(20, 40).join(""));
    const resumed = await wsConnect(
      b.wsUrl(`/logs/ws?level=ERROR&cursor=${(seen.at(-1) as Streamed).cursor}`),
    );
    appendTo(cluster.logDir, "webhooks.json", lines.slice(40).join(""));
    // B may still be mirroring the second part when the client arrives: the live notice then comes earlier.
    const messages = await resumed.take(14);
    expect(messages.filter((m) => JSON.parse(m).control === "live")).toHaveLength(1);
    const entries = messages.filter((m) => JSON.parse(m).control === undefined);
    expect(entries.map(seqOf)).toEqual([21, 24, 27, 30, 33, 36, 39, 42, 45, 48, 51, 54, 57]);
    resumed.close();
  }, 30_000);

  test("a cursor ahead of this instance's mirror (another mirrored sooner) is waited for: nothing repeated", async () => {
    await using cluster = await clusterOf(redis, { instances: 2, files: { "server.log": "" } });
    const [a, b] = [cluster.at(0), cluster.at(1)];
    const onA = await connectLogs(a);
    appendTo(cluster.logDir, "server.log", textLine({ seq: 1 }) + textLine({ seq: 2 }));
    const last = (await takeExactly(onA, 2)).at(-1) as Streamed;
    // The cursor of the entry two lines from now: as if A had mirrored them and B not yet.
    const [epoch, hex] = last.cursor.split("-") as [string, string];
    const ahead = `${epoch}-${(Number.parseInt(hex, 16) + 2).toString(16)}`;
    // B's open handler registers the wait for the cursor before the client sees the socket open (one process,
    // one thread): writing right away still finds the cursor ahead of B.
    const onB = await wsConnect(b.wsUrl(`/logs/ws?cursor=${ahead}`));
    appendTo(cluster.logDir, "server.log", [3, 4, 5, 6].map((seq) => textLine({ seq })).join(""));
    const messages = await onB.take(3);
    const entries = messages.filter((m) => JSON.parse(m).control === undefined);
    expect(entries.map(seqOf)).toEqual([5, 6]);
    expect(messages.map((m) => JSON.parse(m).control).filter(Boolean)).toEqual(["live"]);
    onA.close();
    onB.close();
  }, 30_000);
});
