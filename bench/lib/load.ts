/**
 * A group of load-client processes acting as one: connections are spread evenly over the processes,
 * results and latency samples are merged.
 */
import { join } from "node:path";
import { type ClientKind, type ClientResult, spawnClient } from "./client.ts";

/** Connections opened at once per client process (a bounded handshake burst). */
const CONNECT_CONCURRENCY = 128;

export interface ConnectOutcome {
  /** Connections the group holds after this call (earlier ones included). */
  open: number;
  failed: number;
  ms: number;
  firstError: string | null;
}

export interface LoadResult {
  sockets: number;
  complete: number;
  received: number;
  missing: number;
  duplicateOrReordered: number;
  closedEarly: number;
  firstClose: string | null;
  firstRecvMs: number;
  lastRecvMs: number;
  longestGapMs: number;
  latencies: Float64Array;
}

export interface LoadGroup {
  readonly pids: number[];
  connect(url: string, kind: ClientKind, total: number, timeoutMs: number): Promise<ConnectOutcome>;
  /**
   * Arms every connection for sequence numbers [firstSeq, firstSeq + count), recording latencies from
   * `latencyFromSeq` on (null: none).
   */
  expect(firstSeq: number, count: number, latencyFromSeq: number | null): Promise<void>;
  /** When every connection received the whole range: the time of the last arrival, or null on timeout. */
  waitComplete(timeoutMs: number): Promise<number | null>;
  collect(withLatency: boolean): Promise<LoadResult>;
  close(): Promise<void>;
}

/** The latency samples the client processes wrote (Float64 files), in one array; null entries are skipped. */
export async function readSamples(files: ReadonlyArray<string | null>): Promise<Float64Array> {
  const parts: Float64Array[] = [];
  for (const file of files) {
    if (file !== null) parts.push(new Float64Array(await Bun.file(file).arrayBuffer()));
  }
  const samples = new Float64Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    samples.set(part, offset);
    offset += part.length;
  }
  return samples;
}

export function createLoadGroup(
  processes: number,
  scratchDir: string,
  socketIoClient: string | null,
): LoadGroup {
  const workers = Array.from({ length: processes }, (_, i) => spawnClient(i, socketIoClient));
  let collectRound = 0;
  return {
    pids: workers.map((w) => w.proc.pid),
    async connect(url, kind, total, timeoutMs) {
      const shares = workers.map((_, i) => Math.floor(total / processes) + (i < total % processes ? 1 : 0));
      workers.forEach((worker, i) => {
        worker.send({ cmd: "connect", url, kind, count: shares[i] ?? 0, concurrency: CONNECT_CONCURRENCY });
      });
      const replies = await Promise.all(workers.map((w) => w.next("connected", timeoutMs)));
      return {
        open: replies.reduce((sum, r) => sum + r.open, 0),
        failed: replies.reduce((sum, r) => sum + r.failed, 0),
        ms: Math.max(...replies.map((r) => r.ms)),
        firstError: replies.find((r) => r.firstError !== null)?.firstError ?? null,
      };
    },
    async expect(firstSeq, count, latencyFromSeq) {
      for (const worker of workers) worker.send({ cmd: "expect", firstSeq, count, latencyFromSeq });
      await Promise.all(workers.map((w) => w.next("armed", 10_000)));
    },
    async waitComplete(timeoutMs) {
      try {
        const replies = await Promise.all(workers.map((w) => w.next("complete", timeoutMs)));
        return Math.max(...replies.map((r) => r.atMs));
      } catch {
        // Not every connection got the whole range in time; collect() tells how much is missing.
        return null;
      }
    },
    async collect(withLatency) {
      collectRound++;
      const files = workers.map((_, i) =>
        withLatency ? join(scratchDir, `latency-${collectRound}-${i}.f64`) : null,
      );
      workers.forEach((worker, i) => {
        worker.send({ cmd: "collect", latencyFile: files[i] ?? null });
      });
      const replies: ClientResult[] = await Promise.all(workers.map((w) => w.next("result", 30_000)));
      const latencies = await readSamples(files);
      const received = replies.filter((r) => r.firstRecvMs > 0);
      return {
        sockets: replies.reduce((sum, r) => sum + r.sockets, 0),
        complete: replies.reduce((sum, r) => sum + r.complete, 0),
        received: replies.reduce((sum, r) => sum + r.received, 0),
        missing: replies.reduce((sum, r) => sum + r.missing, 0),
        duplicateOrReordered: replies.reduce((sum, r) => sum + r.duplicateOrReordered, 0),
        closedEarly: replies.reduce((sum, r) => sum + r.closedEarly, 0),
        firstClose: replies.find((r) => r.firstClose !== null)?.firstClose ?? null,
        firstRecvMs: received.length === 0 ? 0 : Math.min(...received.map((r) => r.firstRecvMs)),
        lastRecvMs: Math.max(0, ...replies.map((r) => r.lastRecvMs)),
        longestGapMs: Math.max(0, ...replies.map((r) => r.longestGapMs)),
        latencies,
      };
    },
    async close() {
      for (const worker of workers) worker.send({ cmd: "close" });
      await Promise.all(workers.map((w) => w.next("closed", 10_000).catch(() => null)));
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}
