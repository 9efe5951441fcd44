/**
 * A group of Node `ws` client processes (node-client.mjs) acting as one: connections spread evenly, results
 * and latency samples merged. Each process is started for one range of sequence numbers and ended after
 * `collect`; every wait is bounded.
 */
import { join } from "node:path";
import type { Subprocess } from "bun";
import { stopChild, track, withOpenFilesLimit } from "./children.ts";
import { type LoadResult, readSamples } from "./load.ts";

const CLIENT_SCRIPT = join(import.meta.dir, "node-client.mjs");

export interface LineMessage {
  type: string;
  [key: string]: unknown;
}

/** A child's stdout read as one JSON message per line, each waited for by its `type` with a bound. */
export interface LineMessages {
  next(type: string, timeoutMs: number): Promise<LineMessage>;
}

export function lineMessages(stdout: ReadableStream<Uint8Array>, name: string): LineMessages {
  const queue: LineMessage[] = [];
  const waiting: { wake: (() => void) | null } = { wake: null };
  let ended = false;
  void (async () => {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stdout) {
      const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) if (line.trim() !== "") queue.push(JSON.parse(line) as LineMessage);
      waiting.wake?.();
    }
    ended = true;
    waiting.wake?.();
  })();
  return {
    async next(type, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const index = queue.findIndex((m) => m.type === type);
        if (index !== -1) return queue.splice(index, 1)[0] as LineMessage;
        if (ended) throw new Error(`${name} exited before "${type}"`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${name}: no "${type}" within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiting.wake = () => {
            clearTimeout(timer);
            waiting.wake = null;
            resolve();
          };
        });
      }
    },
  };
}

interface NodeClient extends LineMessages {
  proc: Subprocess<"pipe", "pipe", "inherit">;
}

function startClient(node: string, config: Record<string, unknown>): NodeClient {
  const proc = Bun.spawn({
    cmd: withOpenFilesLimit([node, CLIENT_SCRIPT, JSON.stringify(config)]),
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  track("node-client", proc, false);
  return { proc, ...lineMessages(proc.stdout, "node client") };
}

export interface NodeClientGroup {
  /** When every connection received the whole range: the time of the last arrival, or null on timeout. */
  waitComplete(timeoutMs: number): Promise<number | null>;
  collect(): Promise<LoadResult>;
  stop(): Promise<void>;
}

export interface NodeClientOptions {
  node: string;
  url: string;
  connections: number;
  processes: number;
  firstSeq: number;
  count: number;
  /** Latency is recorded from this sequence number on; null: not at all. */
  latencyFromSeq: number | null;
  scratch: string;
  /** Each connection stops reading for `ms` once it received `afterLines` lines (node-client.mjs). */
  pause?: { afterLines: number; ms: number };
}

let groupCounter = 0;

/** Starts the processes and resolves once every connection is open; throws when one failed. */
export async function connectNodeClients(options: NodeClientOptions): Promise<NodeClientGroup> {
  const group = ++groupCounter;
  const { processes, connections } = options;
  const files = Array.from({ length: processes }, (_, i) =>
    options.latencyFromSeq === null ? null : join(options.scratch, `node-latency-${group}-${i}.f64`),
  );
  const clients = files.map((latencyFile, i) =>
    startClient(options.node, {
      url: options.url,
      connections: Math.floor(connections / processes) + (i < connections % processes ? 1 : 0),
      firstSeq: options.firstSeq,
      count: options.count,
      latencyFromSeq: options.latencyFromSeq,
      latencyFile,
      pause: options.pause ?? null,
    }),
  );
  const stop = async () => {
    await Promise.all(clients.map((c) => stopChild(c.proc, 1000)));
  };
  try {
    const replies = await Promise.all(clients.map((c) => c.next("connected", 60_000)));
    const failed = replies.reduce((sum, r) => sum + Number(r.failed), 0);
    if (failed > 0) throw new Error(`${failed} connections failed: ${String(replies[0]?.firstError)}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    async waitComplete(timeoutMs) {
      try {
        const replies = await Promise.all(clients.map((c) => c.next("complete", timeoutMs)));
        return Math.max(...replies.map((r) => Number(r.atMs)));
      } catch {
        // Not every connection got the whole range in time; collect() tells how much is missing.
        return null;
      }
    },
    async collect() {
      for (const client of clients) {
        client.proc.stdin.write("collect\n");
        await client.proc.stdin.flush();
      }
      const replies = await Promise.all(clients.map((c) => c.next("result", 30_000)));
      const latencies = await readSamples(files);
      const sum = (key: string) => replies.reduce((total, r) => total + Number(r[key]), 0);
      const started = replies.map((r) => Number(r.firstRecvMs)).filter((ms) => ms > 0);
      return {
        sockets: sum("sockets"),
        complete: sum("complete"),
        received: sum("received"),
        missing: sum("missing"),
        duplicateOrReordered: sum("duplicateOrReordered"),
        closedEarly: sum("closedEarly"),
        firstClose: (replies.find((r) => r.firstClose !== null)?.firstClose as string | undefined) ?? null,
        firstRecvMs: started.length === 0 ? 0 : Math.min(...started),
        lastRecvMs: Math.max(0, ...replies.map((r) => Number(r.lastRecvMs))),
        longestGapMs: Math.max(0, ...replies.map((r) => Number(r.longestGapMs))),
        latencies,
      };
    },
    stop,
  };
}
