/**
 * What the relay's Redis store alone costs per webhook, without a server: the relay bench's 7 KB deliveries
 * appended by several callers at once, as an instance's inputs do, while a follower reads the shared stream
 * as every instance does. Reports, per delivery, this process's CPU (the instance's side of the store: what
 * it sends and parses), Redis's CPU, and the time Redis's own command statistics give each command, commands
 * run inside scripts included (so the rows add up to more than Redis's CPU).
 *
 * At a given rate the follower reads about what each append brought, as in the cluster bench; as fast as it
 * goes (rate 0) it reads many at once.
 *
 *   bun bench/relay-redis-cpu.ts [deliveries per append=1] [appends in flight=16] [deliveries/s=1000, 0: max]
 */
import { connectRedis } from "../src/cluster/redis.ts";
import { openRedisStore } from "../src/cluster/relay-store.ts";
import { streamCursors } from "../src/relay/cursor.ts";
import { benchDelivery } from "./lib/bench-delivery.ts";
import { stopAll } from "./lib/children.ts";
import { startRedis } from "./lib/redis-server.ts";

/** Deliveries before the measured ones: the JIT, Redis's script cache and its allocator settle. */
const WARM_DELIVERIES = 600;
const MEASURED_DELIVERIES = 6000;

const batchSize = Number(process.argv[2] ?? 1);
const inFlight = Number(process.argv[3] ?? 16);
const rate = Number(process.argv[4] ?? 1000);

const redis = await startRedis({ appendfsync: "everysec" });
const connection = await connectRedis({ url: redis.url, log: () => {} });
const store = await openRedisStore(connection, { keyPrefix: "bench:", log: () => {} });

const redisCpuSeconds = async () => {
  const cpu = await redis.info("cpu");
  return Number(cpu.used_cpu_user) + Number(cpu.used_cpu_sys);
};

/** Appends `count` deliveries from `inFlight` callers while one follower reads them all; returns its reads. */
async function run(count: number, bucketId: string, inputId: string) {
  let sent = 0;
  let position = (await store.deliveryPosition()).lastPosition;
  const started = performance.now();
  const sender = async () => {
    while (sent < count) {
      const size = Math.min(batchSize, count - sent);
      const due = rate > 0 ? started + (sent * 1000) / rate : 0;
      sent += size;
      if (due > performance.now()) await Bun.sleep(due - performance.now());
      await store.appendDeliveries(
        Array.from({ length: size }, (_, i) => benchDelivery(bucketId, inputId, i)),
      );
    }
  };
  let received = 0;
  let reads = 0;
  const follower = async () => {
    while (received < count) {
      const deliveries = await store.waitForDeliveries(position, 1_000, 256);
      reads++;
      for (const delivery of deliveries) position = streamCursors.positionOf(delivery.id);
      received += deliveries.length;
    }
  };
  await Promise.all([follower(), ...Array.from({ length: inFlight }, sender)]);
  return reads;
}

try {
  const bucket = await store.createBucket("bench");
  const inputId = bucket.inputs[0]?.id ?? "";
  await run(WARM_DELIVERIES, bucket.id, inputId);
  await redis.send("CONFIG", ["RESETSTAT"]);
  const redisBefore = await redisCpuSeconds();
  const before = process.cpuUsage();
  const reads = await run(MEASURED_DELIVERIES, bucket.id, inputId);
  const used = process.cpuUsage(before);
  const redisMicros = ((await redisCpuSeconds()) - redisBefore) * 1e6;
  const per = (micros: number) => (micros / MEASURED_DELIVERIES).toFixed(1);
  console.log(
    `Redis ${redis.version}, ${batchSize} per append, ${inFlight} appends in flight, ` +
      `${rate > 0 ? `${rate} deliveries/s` : "as fast as it goes"}, ` +
      `${(MEASURED_DELIVERIES / reads).toFixed(1)} deliveries per follower read`,
  );
  console.log(`instance side: ${per(used.user + used.system)} µs CPU per delivery`);
  console.log(`Redis: ${per(redisMicros)} µs CPU per delivery`);
  const stats = await redis.info("commandstats");
  const rows = Object.entries(stats)
    .map(([name, value]) => ({
      command: name.replace(/^cmdstat_/, ""),
      calls: Number(/calls=(\d+)/.exec(value)?.[1] ?? 0),
      usec: Number(/usec=(\d+)/.exec(value)?.[1] ?? 0),
    }))
    .filter((row) => row.usec / MEASURED_DELIVERIES >= 0.1)
    .sort((a, b) => b.usec - a.usec);
  for (const row of rows)
    console.log(
      `  ${row.command.padEnd(10)} ${per(row.usec).padStart(6)} µs per delivery, ` +
        `${(row.calls / MEASURED_DELIVERIES).toFixed(2)} calls`,
    );
} finally {
  await store.close();
  connection.close();
  await redis.stop();
  await stopAll();
}
