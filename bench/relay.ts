/**
 * Relay benchmark against a real hookstream process with the durable store on (RELAY_DURABILITY=full):
 *
 * - latency: webhook POST → receive on a subscribed socket, p50/p99/max, at 100 webhooks/s for a few seconds,
 *   with 1 and with 100 subscribers;
 * - throughput: webhooks/s accepted (every 2xx only after its group commit) by a keep-alive sender with
 *   `INFLIGHT` requests in flight, with 1 and with 100 subscribers, and whether every subscriber got every one.
 *
 * Payloads are ~7 KB GitHub-like `pull_request` JSON carrying a sequence number and the send time.
 * Run alone: `bun bench/relay.ts [--quick]`; `bun bench/run.ts --only relay` adds it to the table.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, REPO_ROOT } from "./lib/peers.ts";
import { summarise } from "./lib/stats.ts";

const INFLIGHT = 32;

export interface RelayLatency {
  subscribers: number;
  rate: number;
  p50: number;
  p99: number;
  max: number;
  lost: number;
}

export interface RelayThroughput {
  subscribers: number;
  accepted: number;
  perSecond: number;
  /** Deliveries that some subscriber did not receive (or received twice or out of order). */
  lost: number;
}

export interface RelayBenchResult {
  payloadBytes: number;
  latency: RelayLatency[];
  throughput: RelayThroughput[];
  /** 1-subscriber throughput again after 1,000 subscriber connect/disconnect cycles (smee leaks listeners). */
  afterCycles: RelayThroughput | null;
  cycles: number;
}

/** The ~7 KB GitHub-like body of every relay benchmark: it starts `{"seq":N,"sent_at":T,`. */
export function payload(seq: number): string {
  const filler = "Refactor the webhook relay so that deliveries are committed in groups. ".repeat(95);
  return JSON.stringify({
    seq,
    sent_at: performance.timeOrigin + performance.now(),
    action: "synchronize",
    number: 4242,
    pull_request: {
      id: 1,
      number: 4242,
      title: "Group commit for deliveries",
      body: filler,
      user: { login: "octocat" },
    },
    repository: { id: 2, full_name: "acme/widgets", private: false, owner: { login: "acme" } },
    sender: { login: "octocat", id: 3, type: "User" },
  });
}

/** `bun src/cli.ts <args> --json` on the store in `dataDir` (or the one `env` names, e.g. REDIS_URL). */
export async function cli(
  dataDir: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<unknown> {
  const child = Bun.spawn([process.execPath, join(REPO_ROOT, "src/cli.ts"), ...args, "--json"], {
    env: { ...process.env, ...env, DATA_DIR: dataDir },
    stdout: "pipe",
    stderr: "inherit",
  });
  const output = await new Response(child.stdout).text();
  if ((await child.exited) !== 0) throw new Error(`cli ${args.join(" ")} failed`);
  return JSON.parse(output);
}

interface Subscriber {
  seqs: number[];
  latencies: number[];
  close(): void;
}

async function subscribe(url: string, key: string, secret: string): Promise<Subscriber> {
  const socket = new WebSocket(url);
  const seqs: number[] = [];
  const latencies: number[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.onerror = () => reject(new Error("subscriber connection failed"));
    socket.onopen = () => socket.send(JSON.stringify({ action: "auth", key, secret }));
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as { type: string; status?: string; body?: string };
      if (message.type === "status" && message.status === "authenticated")
        socket.send(JSON.stringify({ action: "subscribe" }));
      else if (message.type === "status" && message.status === "subscribed") resolve();
      else if (message.type === "webhook" && message.body !== undefined) {
        const now = performance.timeOrigin + performance.now();
        // Only the two leading fields are needed: avoid parsing 7 KB per message in the load client.
        const head = /^\{"seq":(\d+),"sent_at":([\d.]+)/.exec(message.body);
        if (head === null) return;
        seqs.push(Number(head[1]));
        latencies.push(now - Number(head[2]));
      }
    };
  });
  return { seqs, latencies, close: () => socket.close() };
}

function lostAcross(subscribers: Subscriber[], sent: number[]): number {
  let lost = 0;
  const expected = sent.join(",");
  for (const subscriber of subscribers)
    if (subscriber.seqs.join(",") !== expected)
      lost += Math.max(1, Math.abs(sent.length - subscriber.seqs.length));
  return lost;
}

export async function waitUntil(check: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await Bun.sleep(10);
}

export async function runRelayBench(quick: boolean, log: (line: string) => void): Promise<RelayBenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), "hookstream-relay-bench-"));
  const port = await freePort();
  const bucket = (await cli(dataDir, ["bucket", "create", "bench"])) as { inputs: Array<{ id: string }> };
  const token = (await cli(dataDir, ["token", "create"])) as { key: string; secret: string };
  const server = Bun.spawn([process.execPath, join(REPO_ROOT, "src/main.ts")], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      RELAY_DURABILITY: "full",
      MAX_CONNECTIONS_PER_IP: "20000",
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  const input = `http://127.0.0.1:${port}/v1/webhooks/${bucket.inputs[0]?.id}`;
  const socketUrl = `ws://127.0.0.1:${port}/v1/socket`;
  let seq = 0;
  const post = async () => {
    const n = seq++;
    const response = await fetch(input, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-GitHub-Event": "pull_request" },
      body: payload(n),
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`POST answered ${response.status}`);
    return n;
  };
  try {
    for (let i = 0; i < 100; i++) {
      try {
        await fetch(`http://127.0.0.1:${port}/health`);
        break;
      } catch {
        await Bun.sleep(50);
      }
    }
    const result: RelayBenchResult = {
      payloadBytes: payload(0).length,
      latency: [],
      throughput: [],
      afterCycles: null,
      cycles: 0,
    };
    const measureThroughput = async (subscribers: Subscriber[]): Promise<RelayThroughput> => {
      const accepted: number[] = [];
      const until = performance.now() + (quick ? 2_000 : 5_000);
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: INFLIGHT }, async () => {
          while (performance.now() < until) accepted.push(await post());
        }),
      );
      const elapsed = (performance.now() - t0) / 1000;
      accepted.sort((a, b) => a - b);
      await waitUntil(() => subscribers.every((s) => s.seqs.length >= accepted.length), 30_000);
      for (const s of subscribers) s.seqs.sort((a, b) => a - b);
      const lost = lostAcross(subscribers, accepted);
      return {
        subscribers: subscribers.length,
        accepted: accepted.length,
        perSecond: accepted.length / elapsed,
        lost,
      };
    };
    for (const count of [1, 100]) {
      const subscribers = await Promise.all(
        Array.from({ length: count }, () => subscribe(socketUrl, token.key, token.secret)),
      );
      // Latency at 100 webhooks/s, one request at a time on a schedule.
      const seconds = quick ? 2 : 5;
      const sent: number[] = [];
      const started = performance.now();
      for (let i = 0; i < seconds * 100; i++) {
        const due = started + i * 10;
        const wait = due - performance.now();
        if (wait > 0) await Bun.sleep(wait);
        sent.push(await post());
      }
      await waitUntil(() => subscribers.every((s) => s.seqs.length >= sent.length), 10_000);
      const latencies = Float64Array.from(subscribers.flatMap((s) => s.latencies));
      const summary = summarise(latencies);
      result.latency.push({
        subscribers: count,
        rate: 100,
        p50: summary.p50,
        p99: summary.p99,
        max: summary.max,
        lost: lostAcross(subscribers, sent),
      });
      log(
        `relay latency, ${count} subscriber(s): p50 ${summary.p50.toFixed(2)} ms, p99 ${summary.p99.toFixed(2)} ms`,
      );
      for (const s of subscribers) {
        s.seqs.length = 0;
        s.latencies.length = 0;
      }

      // Throughput: INFLIGHT requests in flight for a fixed time.
      const throughput = await measureThroughput(subscribers);
      result.throughput.push(throughput);
      log(
        `relay throughput, ${count} subscriber(s): ${throughput.perSecond.toFixed(0)} webhooks/s, lost ${throughput.lost}`,
      );
      for (const s of subscribers) s.close();
    }
    // 1,000 subscribers that connect, authenticate, subscribe and leave; then the 1-subscriber rate again.
    result.cycles = 1000;
    for (let i = 0; i < result.cycles; i++) (await subscribe(socketUrl, token.key, token.secret)).close();
    const again = await subscribe(socketUrl, token.key, token.secret);
    result.afterCycles = await measureThroughput([again]);
    again.close();
    log(
      `relay throughput after ${result.cycles} connect/disconnect cycles: ${result.afterCycles.perSecond.toFixed(0)} webhooks/s`,
    );
    return result;
  } finally {
    server.kill("SIGTERM");
    await server.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const result = await runRelayBench(process.argv.includes("--quick"), console.log);
  console.log(JSON.stringify(result, null, 2));
}
