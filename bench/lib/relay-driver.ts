/**
 * The relay bench's driver, run from the orchestrating process: sender and subscriber processes
 * (relay-load.ts) asked over IPC, one measured phase at a time: arm the subscribers, send, wait for the
 * fan-out, collect what arrived against what was accepted.
 */
import { join } from "node:path";
import type { ChildWorker } from "./ipc.ts";
import { cpuSeconds } from "./proc.ts";
import {
  type CollectReply,
  type RelayLoadReply,
  type RelayLoadRequest,
  type SentReply,
  spawnRelayLoad,
} from "./relay-load.ts";
import { BENCH_GITHUB_SECRET, type RelayServer } from "./relay-servers.ts";
import { summarise } from "./stats.ts";

/** POSTs in flight during the throughput phase, over all sender processes. */
export const INFLIGHT = 16;
/** The driver's CPU (the servers run on another one). */
export const DRIVER_CPU = "0";
const SENDER_STRIDE = 1_000_000;

export interface RelayPhase {
  subscribers: number;
  accepted: number;
  perSecond: number;
  /** Server CPU seconds per accepted webhook, in µs (throughput phases). */
  cpuUsPerWebhook: number;
  p50: number;
  p99: number;
  max: number;
  /** Accepted webhooks some subscriber missed, got twice, or (hookstream) out of order; and refused POSTs. */
  missing: number;
  duplicated: number;
  outOfOrder: number;
  refused: number;
  firstError: string | null;
}

type Load = ChildWorker<RelayLoadRequest, RelayLoadReply>;

async function ask<T extends RelayLoadReply["type"]>(
  workers: Load[],
  request: RelayLoadRequest,
  type: T,
  timeoutMs: number,
) {
  return Promise.all(
    workers.map((w) => {
      w.send(request);
      return w.next(type, timeoutMs);
    }),
  );
}

/** Waits until every subscriber has `count` measured (or, warm-up, total) messages; false at the cap. */
export async function drained(subscribers: Load[], count: number, measured: boolean, capMs: number) {
  const deadline = Date.now() + capMs;
  for (;;) {
    const progress = await ask(subscribers, { cmd: "progress" }, "progress", 10_000);
    if (progress.every((p) => (measured ? p.minMeasured : p.minTotal) >= count)) return true;
    if (progress.some((p) => p.closedEarly > 0) || Date.now() > deadline) return false;
    await Bun.sleep(20);
  }
}

interface Driver {
  senders: Load[];
  subscribers: Load[];
  scratch: string;
}

/** Sends from every sender (`rate`: one paced lane on the first sender only); merges the accepted seqs. */
export async function send(driver: Driver, server: RelayServer, base: number, ms: number, rate?: number) {
  const senders = rate === undefined ? driver.senders : driver.senders.slice(0, 1);
  const per = Math.ceil(INFLIGHT / senders.length);
  const replies: SentReply[] = await Promise.all(
    senders.map((worker, s) => {
      worker.send({
        cmd: "send",
        targets: [{ url: server.inputUrl, inflight: per }],
        durationMs: ms,
        firstSeq: base + s * SENDER_STRIDE,
        acceptedFile: join(driver.scratch, `accepted-${base}-${s}.f64`),
        githubSecret: BENCH_GITHUB_SECRET,
        ...(rate === undefined ? {} : { ratePerSecond: rate }),
      });
      return worker.next("sent", ms + 60_000);
    }),
  );
  const parts = await Promise.all(
    senders.map(
      async (_, s) =>
        new Float64Array(await Bun.file(join(driver.scratch, `accepted-${base}-${s}.f64`)).arrayBuffer()),
    ),
  );
  const accepted = new Float64Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    accepted.set(part, offset);
    offset += part.length;
  }
  accepted.sort();
  const file = join(driver.scratch, `accepted-${base}.f64`);
  await Bun.write(file, accepted);
  const refused = replies.reduce((sum, r) => sum + Object.values(r.failures).reduce((a, b) => a + b, 0), 0);
  return {
    accepted,
    file,
    refused,
    firstError: replies.find((r) => r.firstError !== null)?.firstError ?? null,
    seconds: (Math.max(...replies.map((r) => r.endMs)) - Math.min(...replies.map((r) => r.startMs))) / 1000,
  };
}

/** One measured phase: arm, send, wait for the fan-out, collect. */
export async function phase(
  driver: Driver,
  server: RelayServer,
  base: number,
  ms: number,
  subscribers: number,
  rate?: number,
): Promise<RelayPhase> {
  await ask(driver.subscribers, { cmd: "arm", measureFrom: base }, "armed", 10_000);
  const cpuBefore = cpuSeconds(server.pid);
  const sent = await send(driver, server, base, ms, rate);
  const cpu = cpuSeconds(server.pid) - cpuBefore;
  await drained(driver.subscribers, sent.accepted.length, true, 60_000);
  const latencyFile = join(driver.scratch, `latency-${base}`);
  const collected: CollectReply[] = await Promise.all(
    driver.subscribers.map((w, i) => {
      w.send({ cmd: "collect", acceptedFile: sent.file, latencyFile: `${latencyFile}-${i}.f64` });
      return w.next("result", 60_000);
    }),
  );
  const latencies = await Promise.all(
    driver.subscribers.map(
      async (_, i) => new Float64Array(await Bun.file(`${latencyFile}-${i}.f64`).arrayBuffer()),
    ),
  );
  const summary = summarise(Float64Array.from(latencies.flatMap((l) => Array.from(l))));
  const sum = (pick: (r: CollectReply) => number) => collected.reduce((s, r) => s + pick(r), 0);
  return {
    subscribers,
    accepted: sent.accepted.length,
    perSecond: sent.accepted.length / sent.seconds,
    cpuUsPerWebhook: sent.accepted.length === 0 ? Number.NaN : (cpu / sent.accepted.length) * 1e6,
    p50: summary.p50,
    p99: summary.p99,
    max: summary.max,
    missing: sum((r) => r.missing + r.unexpected + r.closedEarly),
    duplicated: sum((r) => r.duplicated),
    outOfOrder: sum((r) => r.outOfOrder),
    refused: sent.refused,
    firstError:
      sent.firstError ?? collected.find((r) => r.firstOtherStatus !== null)?.firstOtherStatus ?? null,
  };
}

export async function withSubscribers<T>(
  driver: Omit<Driver, "subscribers">,
  server: RelayServer,
  count: number,
  body: (driver: Driver) => Promise<T>,
): Promise<T> {
  const processes = count === 1 ? 1 : 2;
  const subscribers = Array.from({ length: processes }, (_, p) =>
    spawnRelayLoad("subscribers", p, DRIVER_CPU),
  );
  try {
    const urls = Array.from({ length: count }, () => server.subscribe.url);
    const replies = await Promise.all(
      subscribers.map((w, p) => {
        w.send({
          cmd: "subscribe",
          urls: urls.filter((_, i) => i % processes === p),
          key: server.subscribe.key,
          secret: server.subscribe.secret,
          concurrency: 16,
          protocol: server.subscribe.protocol,
        });
        return w.next("subscribed", 60_000);
      }),
    );
    const failed = replies.find((r) => r.failed > 0);
    if (failed !== undefined) throw new Error(`${server.name}: subscribers failed: ${failed.firstError}`);
    return await body({ ...driver, subscribers });
  } finally {
    await ask(subscribers, { cmd: "close" }, "closed", 10_000).catch(() => undefined);
    await Promise.all(subscribers.map((w) => w.stop()));
  }
}

/** 1,000 subscribers that connect, authenticate, subscribe and leave, one after another. */
export async function cycleSubscribers(server: RelayServer, cycles: number): Promise<void> {
  for (let i = 0; i < cycles; i++) {
    const socket = new WebSocket(server.subscribe.url);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("subscriber cycle timed out")), 10_000);
      socket.onopen = () =>
        socket.send(
          JSON.stringify({ action: "auth", key: server.subscribe.key, secret: server.subscribe.secret }),
        );
      socket.onmessage = (event) => {
        const status = (JSON.parse(String(event.data)) as { status?: string }).status;
        if (status === "authenticated") socket.send(JSON.stringify({ action: "subscribe" }));
        else if (status === "subscribed") {
          clearTimeout(timer);
          resolve();
        }
      };
      socket.onerror = () => reject(new Error("subscriber cycle failed"));
    });
    socket.close();
  }
}
