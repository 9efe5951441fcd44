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
 * Frames are read with `indexOf` at known places (the id right after `{"type":"webhook","meta":{"id":"`, the
 * payload's leading `seq` and `sent_at` inside the escaped body), never with `JSON.parse`: with a hundred
 * subscribers in one process, parsing every ~7 KB frame would make the load process the bottleneck.
 */
import { writeFileSync } from "node:fs";
import { STREAM_SEQ_LIMIT } from "../../src/relay/cursor.ts";
import { payload } from "../relay.ts";
import { serveParent, spawnWorker } from "./ipc.ts";
import { nowMs } from "./workload.ts";

export type RelayLoadRequest =
  | { cmd: "subscribe"; urls: string[]; key: string; secret: string; concurrency: number }
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

const WEBHOOK_PREFIX = '{"type":"webhook","meta":{"id":"';
/** The relay payload starts `{"seq":N,"sent_at":T,` and sits JSON-escaped inside the frame's `body`. */
const SEQ_MARK = '{\\"seq\\":';
const SENT_MARK = '\\"sent_at\\":';

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
  ws: WebSocket;
  total: number;
  lastPosition: number;
  outOfOrder: number;
  measured: Growable;
  closed: boolean;
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

  const onWebhook = (socket: Socket, text: string) => {
    const at = nowMs();
    socket.total++;
    const idEnd = text.indexOf('"', WEBHOOK_PREFIX.length);
    const position = positionOf(text.slice(WEBHOOK_PREFIX.length, idEnd));
    if (position <= socket.lastPosition) socket.outOfOrder++;
    else socket.lastPosition = position;
    const seqAt = text.indexOf(SEQ_MARK, idEnd);
    if (seqAt === -1) return;
    const seqStart = seqAt + SEQ_MARK.length;
    const seqEnd = text.indexOf(",", seqStart);
    const seq = Number(text.slice(seqStart, seqEnd));
    if (seq < measureFrom) return;
    const sentStart = seqEnd + 1 + SENT_MARK.length;
    const sentMs = Number(text.slice(sentStart, text.indexOf(",", sentStart)));
    socket.measured.push(seq);
    latencies.push(at - sentMs);
    lastMeasuredMs = at;
  };

  const open = (url: string, key: string, secret: string): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const socket: Socket = {
        ws,
        total: 0,
        lastPosition: -1,
        outOfOrder: 0,
        measured: new Growable(),
        closed: false,
      };
      let subscribed = false;
      ws.onopen = () => ws.send(JSON.stringify({ action: "auth", key, secret }));
      ws.onmessage = (event) => {
        const text = typeof event.data === "string" ? event.data : String(event.data);
        if (text.startsWith(WEBHOOK_PREFIX)) {
          onWebhook(socket, text);
          return;
        }
        const status = (JSON.parse(text) as { status?: string }).status;
        if (status === "authenticated") ws.send(JSON.stringify({ action: "subscribe" }));
        else if (status === "subscribed") {
          subscribed = true;
          resolve(socket);
        } else if (status !== "ping") {
          otherStatuses++;
          firstOtherStatus ??= text.slice(0, 300);
        }
      };
      ws.onclose = (event) => {
        socket.closed = true;
        if (!subscribed) reject(new Error(`closed before subscribing: ${event.code} ${event.reason}`));
        else if (!closing) {
          closedEarly++;
          firstClose ??= `${event.code} ${event.reason}`;
        }
      };
      ws.onerror = () => {
        if (!subscribed) reject(new Error("connection error"));
      };
    });

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
              sockets.push(await open(url, request.key, request.secret));
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
        for (const socket of sockets) if (!socket.closed) socket.ws.close(1000, "done");
        const deadline = Date.now() + 5000;
        while (sockets.some((s) => !s.closed) && Date.now() < deadline) await Bun.sleep(10);
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
    const lane = async (url: string) => {
      while (nowMs() < until) {
        const n = seq++;
        try {
          const response = await fetch(url, {
            method: "POST",
            headers: { "Content-Type": "application/json", "X-GitHub-Event": "pull_request" },
            body: payload(n),
          });
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
      }
    };
    await Promise.all(
      request.targets.flatMap((target) => Array.from({ length: target.inflight }, () => lane(target.url))),
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

export function spawnRelayLoad(role: "subscribers" | "sender", index: number) {
  return spawnWorker<RelayLoadRequest, RelayLoadReply>(`relay-${role}-${index}`, import.meta.path, [role], {
    manyFiles: true,
  });
}
