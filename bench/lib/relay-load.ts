/**
 * A relay load process, in one of two roles chosen by the first request:
 *
 * - **subscribers**: holds many `/v1/socket` connections (each authenticated and subscribed to every bucket its
 *   token reads), and per connection records the delivery ids in arrival order and the payload sequence
 *   numbers of the measured phase, then compares them with the accepted ones: every accepted delivery exactly
 *   once, ids strictly increasing;
 * - **sender**: POSTs the relay bench payload to input URLs with a fixed number of requests in flight per URL
 *   (keep-alive) for a fixed time, and hands back the sequence numbers that got 2xx.
 *
 * Subscribers speak the protocol of the relay under test (relay-subscribe.ts); the ordering check by delivery
 * id applies to hookstream's frames, which carry one. The sender signs every body (`X-Hub-Signature-256`) when
 * given a secret, and sends either as fast as the lanes allow or one request at a time on a fixed schedule.
 */
import { createHmac, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { STREAM_SEQ_LIMIT } from "../../src/relay/cursor.ts";
import { payload } from "../relay.ts";
import { serveParent, spawnWorker } from "./ipc.ts";
import {
  openSubscriber,
  RELAY_WEBHOOK_PREFIX,
  type SubscribeProtocol,
  type SubscriberConnection,
  seqAndSent,
} from "./relay-subscribe.ts";
import { nowMs } from "./workload.ts";

export type RelayLoadRequest =
  | {
      cmd: "subscribe";
      urls: string[];
      key: string;
      secret: string;
      concurrency: number;
      /** Default `relay` (hookstream's socket). */
      protocol?: SubscribeProtocol;
    }
  | { cmd: "arm"; measureFrom: number }
  | { cmd: "progress" }
  | { cmd: "collect"; acceptedFile: string; latencyFile: string }
  | { cmd: "close" }
  | {
      cmd: "send";
      targets: Array<{ url: string; inflight: number }>;
      durationMs: number;
      firstSeq: number;
      acceptedFile: string;
      /** Sends what GitHub sends: a fresh `X-GitHub-Delivery` and the body's signature under this secret. */
      githubSecret?: string;
      /** One request at a time, this many per second (the `inflight` of the targets is ignored). */
      ratePerSecond?: number;
    };

export interface SubscribedReply {
  type: "subscribed";
  open: number;
  failed: number;
  firstError: string | null;
  ms: number;
}

export interface ProgressReply {
  type: "progress";
  /** Fewest messages any socket received in all (warm-up included). */
  minTotal: number;
  /** Fewest measured-phase messages any socket received. */
  minMeasured: number;
  /** Time of the last measured-phase arrival on this process (ms since the epoch). */
  lastMeasuredMs: number;
  closedEarly: number;
}

export interface CollectReply {
  type: "result";
  sockets: number;
  /** Measured-phase messages received, summed over sockets (duplicates included). */
  received: number;
  /** Accepted deliveries that a socket did not receive, summed over sockets. */
  missing: number;
  /** Accepted deliveries a socket received more than once (each extra copy counted). */
  duplicated: number;
  /** Received deliveries that the sender never saw accepted (e.g. stored but answered with an error). */
  unexpected: number;
  /** Messages whose delivery id was not above the previous one on the same socket (all phases). */
  outOfOrder: number;
  /** Status messages other than ping/authenticated/subscribed (errors, gaps). */
  otherStatuses: number;
  firstOtherStatus: string | null;
  closedEarly: number;
  firstClose: string | null;
  latencySamples: number;
}

export interface SentReply {
  type: "sent";
  accepted: number;
  /** Non-2xx answers and failed requests by status ("error" for a request that threw). */
  failures: Record<string, number>;
  firstError: string | null;
  startMs: number;
  endMs: number;
}

export type RelayLoadReply =
  | SubscribedReply
  | { type: "armed" }
  | ProgressReply
  | CollectReply
  | { type: "closed" }
  | SentReply;

/** A delivery id as a number that grows with store order: `<ms>-<seq>` (Redis) or a decimal id (SQLite). */
function positionOf(id: string): number {
  const dash = id.indexOf("-");
  if (dash === -1) return Number(id);
  return Number(id.slice(0, dash)) * STREAM_SEQ_LIMIT + Number(id.slice(dash + 1));
}

class Growable {
  values = new Float64Array(1024);
  length = 0;
  push(value: number) {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }
  view(): Float64Array {
    return this.values.subarray(0, this.length);
  }
  clear() {
    this.length = 0;
  }
}

interface Socket {
  connection: SubscriberConnection;
  total: number;
  lastPosition: number;
  outOfOrder: number;
  measured: Growable;
}

/** Counts of `received` (sorted) against `accepted` (sorted, distinct). */
export function compareSorted(accepted: Float64Array, received: Float64Array) {
  let missing = 0;
  let duplicated = 0;
  let unexpected = 0;
  let i = 0;
  let j = 0;
  while (i < accepted.length || j < received.length) {
    const a = i < accepted.length ? (accepted[i] as number) : Number.POSITIVE_INFINITY;
    const r = j < received.length ? (received[j] as number) : Number.POSITIVE_INFINITY;
    if (a === r) {
      i++;
      j++;
      while (j < received.length && received[j] === a) {
        duplicated++;
        j++;
      }
    } else if (a < r) {
      missing++;
      i++;
    } else {
      unexpected++;
      j++;
      while (j < received.length && received[j] === r) j++;
    }
  }
  return { missing, duplicated, unexpected };
}

function runSubscribers() {
  const sockets: Socket[] = [];
  const latencies = new Growable();
  let measureFrom = Number.POSITIVE_INFINITY;
  let lastMeasuredMs = 0;
  let otherStatuses = 0;
  let firstOtherStatus: string | null = null;
  let closedEarly = 0;
  let firstClose: string | null = null;
  let closing = false;

  const onWebhook = (socket: Socket, text: string, at: number) => {
    socket.total++;
    let from = 0;
    // Only hookstream's frames carry a delivery id: their order is checked.
    if (text.startsWith(RELAY_WEBHOOK_PREFIX)) {
      from = text.indexOf('"', RELAY_WEBHOOK_PREFIX.length);
      const position = positionOf(text.slice(RELAY_WEBHOOK_PREFIX.length, from));
      if (position <= socket.lastPosition) socket.outOfOrder++;
      else socket.lastPosition = position;
    }
    const found = seqAndSent(text, from);
    if (found === null || found.seq < measureFrom) return;
    socket.measured.push(found.seq);
    latencies.push(at - found.sentMs);
    lastMeasuredMs = at;
  };

  const open = async (protocol: SubscribeProtocol, url: string, key: string, secret: string) => {
    const socket = { total: 0, lastPosition: -1, outOfOrder: 0, measured: new Growable() } as Socket;
    socket.connection = await openSubscriber(
      { protocol, url, key, secret },
      {
        webhook: (text, at) => onWebhook(socket, text, at),
        otherStatus(text) {
          otherStatuses++;
          firstOtherStatus ??= text;
        },
        closed(reason) {
          if (closing) return;
          closedEarly++;
          firstClose ??= reason;
        },
      },
    );
    return socket;
  };

  const parent = serveParent<RelayLoadRequest, RelayLoadReply>(async (request) => {
    switch (request.cmd) {
      case "subscribe": {
        const started = nowMs();
        let failed = 0;
        let firstError: string | null = null;
        let next = 0;
        const lane = async () => {
          while (next < request.urls.length) {
            const url = request.urls[next++] as string;
            try {
              sockets.push(await open(request.protocol ?? "relay", url, request.key, request.secret));
            } catch (error) {
              failed++;
              firstError ??= error instanceof Error ? error.message : String(error);
            }
          }
        };
        await Promise.all(Array.from({ length: Math.max(1, request.concurrency) }, lane));
        parent.reply({ type: "subscribed", open: sockets.length, failed, firstError, ms: nowMs() - started });
        return;
      }
      case "arm":
        measureFrom = request.measureFrom;
        latencies.clear();
        lastMeasuredMs = 0;
        for (const socket of sockets) socket.measured.clear();
        parent.reply({ type: "armed" });
        return;
      case "progress": {
        let minTotal = Number.POSITIVE_INFINITY;
        let minMeasured = Number.POSITIVE_INFINITY;
        for (const socket of sockets) {
          minTotal = Math.min(minTotal, socket.total);
          minMeasured = Math.min(minMeasured, socket.measured.length);
        }
        parent.reply({
          type: "progress",
          minTotal: sockets.length === 0 ? 0 : minTotal,
          minMeasured: sockets.length === 0 ? 0 : minMeasured,
          lastMeasuredMs,
          closedEarly,
        });
        return;
      }
      case "collect": {
        const accepted = new Float64Array(await Bun.file(request.acceptedFile).arrayBuffer());
        let received = 0;
        let missing = 0;
        let duplicated = 0;
        let unexpected = 0;
        let outOfOrder = 0;
        for (const socket of sockets) {
          const seqs = Float64Array.from(socket.measured.view()).sort();
          received += seqs.length;
          const counts = compareSorted(accepted, seqs);
          missing += counts.missing;
          duplicated += counts.duplicated;
          unexpected += counts.unexpected;
          outOfOrder += socket.outOfOrder;
        }
        writeFileSync(request.latencyFile, latencies.view());
        parent.reply({
          type: "result",
          sockets: sockets.length,
          received,
          missing,
          duplicated,
          unexpected,
          outOfOrder,
          otherStatuses,
          firstOtherStatus,
          closedEarly,
          firstClose,
          latencySamples: latencies.length,
        });
        return;
      }
      case "close": {
        closing = true;
        for (const socket of sockets) if (!socket.connection.isClosed()) socket.connection.close();
        const deadline = Date.now() + 5000;
        while (sockets.some((s) => !s.connection.isClosed()) && Date.now() < deadline) await Bun.sleep(10);
        parent.reply({ type: "closed" });
        return;
      }
      case "send":
        throw new Error("a subscriber process does not send");
    }
  });
}

function runSender() {
  const parent = serveParent<RelayLoadRequest, RelayLoadReply>(async (request) => {
    if (request.cmd === "close") {
      parent.reply({ type: "closed" });
      return;
    }
    if (request.cmd !== "send") throw new Error(`a sender process does not ${request.cmd}`);
    const accepted = new Growable();
    const failures: Record<string, number> = {};
    let firstError: string | null = null;
    let seq = request.firstSeq;
    const startMs = nowMs();
    const until = startMs + request.durationMs;
    const post = async (url: string) => {
      const n = seq++;
      const body = payload(n);
      const headers: Record<string, string> = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
      };
      if (request.githubSecret !== undefined) {
        headers["X-GitHub-Delivery"] = randomUUID();
        headers["X-Hub-Signature-256"] =
          `sha256=${createHmac("sha256", request.githubSecret).update(body).digest("hex")}`;
      }
      try {
        const response = await fetch(url, { method: "POST", headers, body });
        await response.arrayBuffer();
        if (response.status >= 200 && response.status < 300) accepted.push(n);
        else {
          const key = String(response.status);
          failures[key] = (failures[key] ?? 0) + 1;
          firstError ??= `HTTP ${response.status}`;
        }
      } catch (error) {
        failures.error = (failures.error ?? 0) + 1;
        firstError ??= error instanceof Error ? error.message : String(error);
        await Bun.sleep(10);
      }
    };
    const lane = async (url: string) => {
      while (nowMs() < until) await post(url);
    };
    /** One request at a time on a schedule; a late answer is followed at once by the requests now due. */
    const paced = async (url: string, rate: number) => {
      for (let i = 0; ; i++) {
        const due = startMs + (i * 1000) / rate;
        if (due >= until) return;
        const wait = due - nowMs();
        if (wait > 0) await Bun.sleep(wait);
        await post(url);
      }
    };
    const rate = request.ratePerSecond;
    await Promise.all(
      rate === undefined
        ? request.targets.flatMap((target) => Array.from({ length: target.inflight }, () => lane(target.url)))
        : request.targets.map((target) => paced(target.url, rate)),
    );
    writeFileSync(request.acceptedFile, accepted.view());
    parent.reply({
      type: "sent",
      accepted: accepted.length,
      failures,
      firstError,
      startMs,
      endMs: nowMs(),
    });
  });
}

if (import.meta.main) {
  if (process.argv[2] === "sender") runSender();
  else runSubscribers();
}

/** `cpus`: a `taskset -c` list the process is pinned to. */
export function spawnRelayLoad(role: "subscribers" | "sender", index: number, cpus?: string) {
  return spawnWorker<RelayLoadRequest, RelayLoadReply>(`relay-${role}-${index}`, import.meta.path, [role], {
    manyFiles: true,
    ...(cpus === undefined ? {} : { cpus }),
  });
}
