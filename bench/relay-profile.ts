/**
 * One relay at full rate for a profiler: the relay bench's server and driver (pinned as there), one
 * subscriber, 16 POSTs in flight for a fixed time, then the rate and the server's CPU per accepted webhook.
 *
 *   RELAY_BENCH_CPU_PROF=/tmp/prof bun bench/relay-profile.ts [hookstream|nostore|durable-floor] [ms]
 *
 * With RELAY_BENCH_CPU_PROF hookstream writes a `--cpu-prof` profile there when it stops; for `perf`, attach
 * to the server's pid while it runs (`perf record -e cpu-clock -g -p <pid>`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopAll } from "./lib/children.ts";
import { cpuSeconds } from "./lib/proc.ts";
import { spawnRelayLoad } from "./lib/relay-load.ts";
import { BENCH_GITHUB_SECRET, type RelayServerName, startRelayServer } from "./lib/relay-servers.ts";

/** Webhooks per store transaction over the whole run, from hookstream's `/metrics` (loopback needs no token). */
async function webhooksPerTransaction(inputUrl: string): Promise<string> {
  const text = await (await fetch(new URL("/metrics", inputUrl))).text();
  const sample = (metric: string) => Number(new RegExp(`^hookstream_${metric} (\\S+)$`, "m").exec(text)?.[1]);
  const transactions = sample("store_commit_duration_seconds_count");
  const stored = sample("webhooks_accepted_total");
  return `, ${(stored / transactions).toFixed(1)} webhooks per store transaction`;
}

const name = (process.argv[2] ?? "hookstream") as RelayServerName;
const ms = Number(process.argv[3] ?? 8000);
const scratch = mkdtempSync(join(tmpdir(), "hookstream-relay-profile-"));
try {
  const server = await startRelayServer(name, { cpu: "1", scratch, smeeDir: null });
  console.log(`${name} pid ${server.pid}`);
  const subscriber = spawnRelayLoad("subscribers", 0, "0");
  const { protocol, url, key, secret } = server.subscribe;
  subscriber.send({ cmd: "subscribe", urls: [url], key, secret, protocol, concurrency: 1 });
  await subscriber.next("subscribed", 10_000);
  const senders = [0, 1].map((i) => spawnRelayLoad("sender", i, "0"));
  const send = async (durationMs: number, base: number) => {
    const before = cpuSeconds(server.pid);
    const replies = await Promise.all(
      senders.map((worker, i) => {
        worker.send({
          cmd: "send",
          targets: [{ url: server.inputUrl, inflight: 8 }],
          durationMs,
          firstSeq: base + i * 1_000_000,
          acceptedFile: join(scratch, `accepted-${i}`),
          githubSecret: BENCH_GITHUB_SECRET,
        });
        return worker.next("sent", durationMs + 30_000);
      }),
    );
    const accepted = replies.reduce((sum, reply) => sum + reply.accepted, 0);
    const cpuUs = ((cpuSeconds(server.pid) - before) / accepted) * 1e6;
    return { perSecond: accepted / (durationMs / 1000), cpuUs, errors: replies.map((r) => r.firstError) };
  };
  await send(1000, 0);
  const measured = await send(ms, 10_000_000);
  const isHookstream = name === "hookstream" || name === "hookstream-normal" || name === "baseline";
  const batching = isHookstream ? await webhooksPerTransaction(server.inputUrl) : "";
  console.log(
    `${name}: ${measured.perSecond.toFixed(0)} webhooks/s, ${measured.cpuUs.toFixed(1)} µs CPU each${batching}` +
      `${measured.errors.some((e) => e !== null) ? `, errors: ${measured.errors.join("; ")}` : ""}`,
  );
  await server.stop();
} finally {
  await stopAll();
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(0);
