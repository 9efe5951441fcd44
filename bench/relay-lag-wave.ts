/**
 * A lag wave on the relay: every subscriber falls behind at once and catches up, with the recent deliveries
 * in memory (the default `RELAY_RECENT_BYTES`) and without them (0), in embedded and cluster mode.
 *
 * Each run starts one fresh instance (cluster mode: on a throwaway `redis-server`), creates a bucket and a
 * token with the CLI, and connects SOCKETS Node `ws` subscribers (bench/lib/pausing-relay-subscribers.mjs).
 * Each stops reading after its first PAUSE_AFTER webhooks for PAUSE_MS, so the fan-out takes all of them off
 * the live topics, while the sender POSTs DELIVERIES of the relay bench's ~7 KB payload, IN_FLIGHT at a time.
 * Reported: the instance's and Redis's CPU from the first POST until every subscriber has every delivery,
 * that time, where the catch-up pages came from (/health), the instance's peak RSS, and the webhooks that
 * came twice or out of order (must be 0). Settings alternate within each round.
 *
 *   bun bench/relay-lag-wave.ts [--rounds N]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { stopChild, track } from "./lib/children.ts";
import { lineMessages } from "./lib/node-clients.ts";
import { freePort } from "./lib/peers.ts";
import { cpuSeconds } from "./lib/proc.ts";
import { redisAvailable, startRedis } from "./lib/redis-server.ts";
import { waitAnswering } from "./lib/relay-servers.ts";
import { cli, payload } from "./relay.ts";

const SOCKETS = 100;
const DELIVERIES = 1500;
const IN_FLIGHT = 8;
const PAUSE_AFTER = 50;
const PAUSE_MS = 1500;
const REPO_ROOT = join(import.meta.dir, "..");
const SUBSCRIBERS = join(import.meta.dir, "lib/pausing-relay-subscribers.mjs");

interface WaveRun {
  mode: "embedded" | "cluster";
  recentBytes: "default" | "0";
  instanceCpuSeconds: number;
  redisCpuSeconds: number;
  postSeconds: number;
  caughtUpSeconds: number;
  lagEvents: number;
  pagesFromMemory: number;
  pagesFromStore: number;
  peakRssMb: number;
  duplicates: number;
  outOfOrder: number;
}

async function runWave(
  mode: WaveRun["mode"],
  recentBytes: WaveRun["recentBytes"],
  redis: { url: string; pid: number } | null,
): Promise<WaveRun> {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-wave-"));
  const env: Record<string, string> =
    redis === null
      ? { RELAY_DURABILITY: "full" }
      : { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `wave-${process.pid}-${Date.now()}:` };
  const bucket = (await cli(dir, ["bucket", "create", "wave"], env)) as { inputs: Array<{ id: string }> };
  const token = (await cli(dir, ["token", "create"], env)) as { key: string; secret: string };
  const port = await freePort();
  const server = Bun.spawn([process.execPath, "src/main.ts"], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ...env,
      HOST: "127.0.0.1",
      PORT: String(port),
      DATA_DIR: dir,
      LOG_DIR: join(dir, "logs"),
      MAX_CONNECTIONS_PER_IP: "20000",
      ...(recentBytes === "0" ? { RELAY_RECENT_BYTES: "0" } : {}),
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  track("hookstream", server, false);
  let subscribers: Subprocess<"ignore", "pipe", "inherit"> | null = null;
  try {
    await waitAnswering(`http://127.0.0.1:${port}/livez`, server, 20_000);
    const node = Bun.which("node");
    if (node === null) throw new Error("node is not installed");
    subscribers = Bun.spawn(
      [node, SUBSCRIBERS, `ws://127.0.0.1:${port}/v1/socket`, token.key, token.secret].concat(
        [SOCKETS, DELIVERIES, PAUSE_AFTER, PAUSE_MS].map(String),
      ),
      { cwd: REPO_ROOT, stdout: "pipe", stderr: "inherit" },
    );
    track("subscribers", subscribers, false);
    const messages = lineMessages(subscribers.stdout, "pausing subscribers");
    await messages.next("ready", 30_000);

    const cpuBefore = cpuSeconds(server.pid);
    const redisBefore = redis === null ? 0 : cpuSeconds(redis.pid);
    const started = performance.now();
    const url = `http://127.0.0.1:${port}/v1/webhooks/${bucket.inputs[0]?.id}`;
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < DELIVERIES) {
          const response = await fetch(url, { method: "POST", body: payload(next++) });
          if (response.status !== 200) throw new Error(`POST answered ${response.status}`);
        }
      }),
    );
    const posted = performance.now();
    const done = (await messages.next("done", 120_000)) as unknown as {
      outOfOrder: number;
      duplicates: number;
    };
    const caughtUp = performance.now();
    const instanceCpuSeconds = cpuSeconds(server.pid) - cpuBefore;
    const redisCpuSeconds = redis === null ? 0 : cpuSeconds(redis.pid) - redisBefore;
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as {
      relay: { lag_events: number; catch_up_pages_from_memory: number; catch_up_pages_from_store: number };
    };
    const peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))?.[1]);
    return {
      mode,
      recentBytes,
      instanceCpuSeconds,
      redisCpuSeconds,
      postSeconds: (posted - started) / 1000,
      caughtUpSeconds: (caughtUp - started) / 1000,
      lagEvents: health.relay.lag_events,
      pagesFromMemory: health.relay.catch_up_pages_from_memory,
      pagesFromStore: health.relay.catch_up_pages_from_store,
      peakRssMb: peakKb / 1024,
      duplicates: done.duplicates,
      outOfOrder: done.outOfOrder,
    };
  } finally {
    if (subscribers !== null) await stopChild(subscribers);
    await stopChild(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

function row(run: WaveRun): string {
  const cells = [
    run.mode,
    run.recentBytes === "0" ? "0 (store)" : "default (8 MiB)",
    run.instanceCpuSeconds.toFixed(2),
    run.mode === "cluster" ? run.redisCpuSeconds.toFixed(2) : "–",
    run.postSeconds.toFixed(2),
    run.caughtUpSeconds.toFixed(2),
    String(run.lagEvents),
    `${run.pagesFromMemory} / ${run.pagesFromStore}`,
    run.peakRssMb.toFixed(0),
    `${run.duplicates} / ${run.outOfOrder}`,
  ];
  return `| ${cells.join(" | ")} |`;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Bun.argv.slice(2), options: { rounds: { type: "string" } } });
  const rounds = Number(values.rounds ?? 2);
  const redis = redisAvailable() ? await startRedis({ appendfsync: "everysec" }) : null;
  if (redis === null) console.log("redis-server not installed: embedded mode only");
  console.log(
    `relay lag wave: ${SOCKETS} sockets pause ${PAUSE_MS} ms after ${PAUSE_AFTER} webhooks; ` +
      `${DELIVERIES} POSTs of ~7 KB, ${IN_FLIGHT} in flight; ${rounds} rounds`,
  );
  console.log(
    "\n| mode | RELAY_RECENT_BYTES | instance CPU (s) | Redis CPU (s) | POSTs done (s) | all caught up (s) | lag events | pages from memory / store | peak RSS (MB) | duplicated / out of order |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  try {
    for (let round = 0; round < rounds; round++)
      for (const mode of redis === null ? (["embedded"] as const) : (["embedded", "cluster"] as const))
        for (const recentBytes of ["default", "0"] as const) {
          const run = await runWave(mode, recentBytes, mode === "cluster" ? redis : null);
          console.log(row(run));
          if (run.duplicates > 0 || run.outOfOrder > 0) process.exitCode = 1;
        }
  } finally {
    await redis?.stop();
  }
}
