/**
 * What reading the Redis relay store's delivery stream costs per page, in-process against a throwaway
 * `redis-server`: the relay bench's ~7 KB deliveries appended in one bucket, then read back in pages of a
 * fixed size, the two ways an instance reads them:
 *
 * - `wait`: a page appended, then `waitForDeliveries` reads it: the live path every instance follows the
 *   stream with, which reads whatever is new;
 * - `read`: `readDeliveries` of every bucket over a range of a longer stream, the path a subscriber
 *   catches up with.
 *
 * Reported per page: Redis's CPU (user+sys of redis-server from /proc: network and reply writing included,
 * and for `wait` the appends too), this process's CPU (for `wait` with the appends), and the time Redis
 * spent in each command (INFO commandstats: a script's commands count in the script's EVAL or EVALSHA and
 * again on their own line), the mean of several rounds alternating the two paths.
 *
 *   bun bench/relay-redis-read.ts [rows per page] [pages per round] [rounds]
 */

import { connectRedis } from "../src/cluster/redis.ts";
import { openRedisStore } from "../src/cluster/relay-store.ts";
import { streamCursors } from "../src/relay/cursor.ts";
import type { NewDelivery } from "../src/relay/store.ts";
import { cpuSeconds } from "./lib/proc.ts";
import { startRedis } from "./lib/redis-server.ts";
import { payload } from "./relay.ts";

const rows = Number(process.argv[2] ?? 12);
const pages = Number(process.argv[3] ?? 400);
const rounds = Number(process.argv[4] ?? 5);

const redisServer = await startRedis({ appendfsync: "everysec" });
// An AOF rewrite's child would be counted in Redis's CPU (reaped children are): none while this runs.
await redisServer.send("CONFIG", ["SET", "auto-aof-rewrite-percentage", "0"]);
const redis = await connectRedis({ url: redisServer.url, log: () => {} });
const store = await openRedisStore(redis, { keyPrefix: "bench:", log: () => {} });
try {
  const bucket = await store.createBucket("bench");
  const inputId = bucket.inputs[0]?.id ?? "";
  const delivery = (seq: number): NewDelivery => ({
    bucketId: bucket.id,
    inputId,
    githubDelivery: crypto.randomUUID(),
    method: "POST",
    headers: { "Content-Type": ["application/json"], "X-Github-Event": ["pull_request"] },
    query: "",
    body: new TextEncoder().encode(payload(seq)),
    sourceAddress: "127.0.0.1",
    receivedAt: Date.now(),
  });
  let seq = 0;
  const append = async () => {
    const batch = Array.from({ length: rows }, () => delivery(seq++));
    return (await store.appendDeliveries(batch)).map((result) => streamCursors.positionOf(result.id ?? ""));
  };
  const positions: number[] = [];
  for (let page = 0; page < pages; page++) positions.push(...(await append()));
  const before = (page: number) => (page === 0 ? 0 : (positions[page * rows - 1] ?? 0));
  let newest = positions.at(-1) ?? 0;

  const paths = {
    async wait(_page: number) {
      const after = newest;
      newest = (await append()).at(-1) ?? 0;
      return (await store.waitForDeliveries(after, 0, 256)).length;
    },
    async read(page: number) {
      const through = positions[(page + 1) * rows - 1] ?? 0;
      const read = { bucketIds: null, afterPosition: before(page), throughPosition: through };
      return (await store.readDeliveries({ ...read, maxRows: 256, maxBytes: 1024 * 1024 })).deliveries.length;
    },
  };
  /** Microseconds Redis spent in each command so far (a script's commands count in the script too). */
  const commandUsec = async () => {
    const usec = new Map<string, number>();
    for (const [name, value] of Object.entries(await redisServer.info("commandstats")))
      usec.set(name.replace("cmdstat_", ""), Number(/usec=(\d+)/.exec(value)?.[1] ?? 0));
    return usec;
  };
  const newTotals = () => ({ commands: new Map<string, number>(), redis: 0, own: 0 });
  const totals = { wait: newTotals(), read: newTotals() };
  for (let round = 0; round <= rounds; round++) {
    for (const name of ["wait", "read"] as const) {
      const commands0 = await commandUsec();
      const redis0 = cpuSeconds(redisServer.pid);
      const own0 = process.cpuUsage();
      for (let page = 0; page < pages; page++) {
        const got = await paths[name](page);
        if (got !== rows) throw new Error(`${name}: page ${page} had ${got} rows, not ${rows}`);
      }
      const own = process.cpuUsage(own0);
      // Round 0 warms the JIT and Redis up and is not counted.
      if (round === 0) continue;
      totals[name].redis += cpuSeconds(redisServer.pid) - redis0;
      for (const [command, usec] of await commandUsec()) {
        const spent = (usec - (commands0.get(command) ?? 0)) / 1e6;
        if (spent > 0) totals[name].commands.set(command, (totals[name].commands.get(command) ?? 0) + spent);
      }
      totals[name].own += (own.user + own.system) / 1e6;
    }
  }
  const perPage = (seconds: number) => ((seconds / (rounds * pages)) * 1e6).toFixed(0);
  for (const name of ["wait", "read"] as const) {
    const commands = [...totals[name].commands]
      .sort((a, b) => b[1] - a[1])
      .map(([command, seconds]) => `${command} ${perPage(seconds)}`);
    console.log(
      `${name}: ${rows} rows per page: Redis CPU ${perPage(totals[name].redis)} µs, this process ` +
        `${perPage(totals[name].own)} µs per page (${rounds} rounds of ${pages} pages)\n` +
        `  Redis time per command per page (µs): ${commands.join(", ")}`,
    );
  }
} finally {
  await store.close();
  redis.close();
  await redisServer.stop();
}
