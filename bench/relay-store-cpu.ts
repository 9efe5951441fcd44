/**
 * What the relay's SQLite store alone costs per webhook, in-process, without a server: batches of the relay
 * bench's 7 KB deliveries appended one after the other, as the group-commit writer hands them over, and the
 * process's CPU (every thread: the fsync on the thread pool and the checkpoint thread included) per delivery.
 * Run once per durability to see what the fsync adds; the batch size is what `bench/relay-profile.ts` reports
 * as webhooks per store transaction.
 *
 *   bun bench/relay-store-cpu.ts [full|normal] [deliveries per batch]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "../src/relay/sqlite-store.ts";
import { benchDelivery } from "./lib/bench-delivery.ts";

/** Batches before the measured ones: the page cache, the JIT and the first checkpoint settle. */
const WARM_BATCHES = 300;
const MEASURED_BATCHES = 3000;

const durability = process.argv[2] === "normal" ? "normal" : "full";
const batchSize = Number(process.argv[3] ?? 6);
const scratch = mkdtempSync(join(tmpdir(), "hookstream-relay-store-cpu-"));
const store = openSqliteStore(join(scratch, "relay.db"), { durability });
try {
  const bucket = await store.createBucket("bench");
  const inputId = bucket.inputs[0]?.id ?? "";
  let seq = 0;
  const delivery = () => benchDelivery(bucket.id, inputId, seq++);
  const append = async (batches: number) => {
    for (let i = 0; i < batches; i++)
      await store.appendDeliveries(Array.from({ length: batchSize }, delivery));
  };
  await append(WARM_BATCHES);
  const before = process.cpuUsage();
  const started = performance.now();
  await append(MEASURED_BATCHES);
  const used = process.cpuUsage(before);
  const deliveries = MEASURED_BATCHES * batchSize;
  const perDelivery = (micros: number) => (micros / deliveries).toFixed(1);
  console.log(
    `RELAY_DURABILITY=${durability}, ${batchSize} per transaction: ${perDelivery(used.user + used.system)} µs CPU ` +
      `per delivery (user ${perDelivery(used.user)}, system ${perDelivery(used.system)}), ` +
      `${perDelivery((performance.now() - started) * 1000)} µs wall`,
  );
} finally {
  await store.close();
  rmSync(scratch, { recursive: true, force: true });
}
