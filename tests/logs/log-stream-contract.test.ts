/**
 * The log stream's contract, run against both brokers: the embedded one (follower → journal in one process)
 * and cluster mode (a leased writer → Redis stream → every instance's journal mirror). A client must not be
 * able to tell them apart: filters, cursors, tail/since/cursor backfill, gaps for unknown cursors.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startInstance, uniquePrefix } from "../helpers/cluster.ts";
import { append, connectLogs, seqOf, textLine } from "../helpers/logs.ts";
import { redisAvailable, startRedis, type TestRedis } from "../helpers/redis.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { wsConnect } from "../helpers/ws.ts";

interface Streamed {
  message: string;
  cursor?: string;
  control?: string;
  requested?: string;
}
const parse = (raw: string) => JSON.parse(raw) as Streamed;

interface Broker {
  name: string;
  available: boolean;
  start(files: Record<string, string>): Promise<TestServer>;
}

let redis: TestRedis | null = null;
const brokers: Broker[] = [
  { name: "embedded", available: true, start: (files) => startTestServer({ files }) },
  {
    name: "cluster (Redis)",
    available: redisAvailable,
    start: (files) => {
      if (redis === null) throw new Error("Redis is not running");
      return startInstance(redis, uniquePrefix(), { files });
    },
  },
];

beforeAll(async () => {
  if (redisAvailable) redis = await startRedis();
});
afterAll(async () => {
  await redis?.[Symbol.asyncDispose]();
});

for (const broker of brokers) {
  describe.skipIf(!broker.available)(`log stream contract: ${broker.name}`, () => {
    test("filters: a client gets exactly the entries that match, in order, each once", async () => {
      await using server = await broker.start({ "server.log": "" });
      const errors = await connectLogs(server, "level=ERROR&repository=org/a");
      const all = await connectLogs(server);
      const lines = Array.from({ length: 30 }, (_, i) =>
        textLine({ seq: i, level: i % 3 ? "INFO" : "ERROR", repository: i % 2 ? "org/a" : "org/b" }),
      );
      append(server, "server.log", lines.join(""));
      expect((await errors.take(5)).map(seqOf)).toEqual([3, 9, 15, 21, 27]);
      expect((await all.take(30)).map(seqOf)).toEqual(Array.from({ length: 30 }, (_, i) => i));
      expect(errors.pending() + all.pending()).toBe(0);
      errors.close();
      all.close();
    });

    test("cursor: continues right after it, once each, then live", async () => {
      await using server = await broker.start({ "server.log": "" });
      const watcher = await connectLogs(server);
      const first = await connectLogs(server);
      append(server, "server.log", [0, 1, 2].map((seq) => textLine({ seq })).join(""));
      const seen = (await first.take(3)).map(parse);
      first.close();
      await first.closed;
      append(server, "server.log", [3, 4].map((seq) => textLine({ seq })).join(""));
      // Once the watcher has them, they are in the journal the resumed client reads.
      expect((await watcher.take(5)).map(seqOf)).toEqual([0, 1, 2, 3, 4]);
      const resumed = await wsConnect(server.wsUrl(`/logs/ws?cursor=${seen[2]?.cursor}`));
      const backfill = await resumed.take(3);
      expect(backfill.slice(0, 2).map(seqOf)).toEqual([3, 4]);
      expect(parse(backfill[2] ?? "{}")).toEqual({ control: "live" } as Streamed);
      append(server, "server.log", textLine({ seq: 5 }));
      expect(seqOf(await resumed.next())).toBe(5);
      resumed.close();
      watcher.close();
    });

    test("tail and since: the newest entries, or those since a time, then live", async () => {
      await using server = await broker.start({ "server.log": "" });
      const watcher = await connectLogs(server);
      append(server, "server.log", Array.from({ length: 10 }, (_, i) => textLine({ seq: i })).join(""));
      await watcher.take(10);
      const tail = await wsConnect(server.wsUrl("/logs/ws?tail=3"));
      const since = await wsConnect(server.wsUrl("/logs/ws?since=2026-11-23T09:59:59Z"));
      expect((await tail.take(3)).map(seqOf)).toEqual([7, 8, 9]);
      expect((await since.take(10)).map(seqOf)).toEqual(Array.from({ length: 10 }, (_, i) => i));
      for (const client of [tail, since])
        expect(parse(await client.next())).toEqual({ control: "live" } as Streamed);
      for (const client of [watcher, tail, since]) client.close();
    });

    test("an unknown cursor gets a gap notice naming it, then everything retained", async () => {
      await using server = await broker.start({ "server.log": "" });
      const watcher = await connectLogs(server);
      append(server, "server.log", [0, 1].map((seq) => textLine({ seq })).join(""));
      await watcher.take(2);
      const foreign = "0badc0de-5";
      const client = await wsConnect(server.wsUrl(`/logs/ws?cursor=${foreign}`));
      const [gap, ...rest] = await client.take(4);
      expect(parse(gap ?? "{}")).toMatchObject({ control: "gap", requested: foreign });
      expect(rest.slice(0, 2).map(seqOf)).toEqual([0, 1]);
      expect(parse(rest[2] ?? "{}")).toEqual({ control: "live" } as Streamed);
      watcher.close();
      client.close();
    });
  });
}
