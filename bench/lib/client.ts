/**
 * A load-client process: holds many connections to one server and checks, per connection, that every
 * sequence number of the expected range arrives exactly once and in order. Optionally records the
 * append-to-receive latency of every message.
 *
 * Two connection kinds: `ws` (Bun's built-in WebSocket client; hookstream and websocketd) and `socketio`
 * (socket.io-client 2.x, the protocol frontail speaks: it emits each line as a `line` event).
 */
import { writeFileSync } from "node:fs";
import { serveParent, spawnWorker } from "./ipc.ts";
import { nowMs, readMark } from "./workload.ts";

export type ClientKind = "ws" | "socketio";

export type ClientRequest =
  | { cmd: "connect"; url: string; kind: ClientKind; count: number; concurrency: number }
  | { cmd: "expect"; firstSeq: number; count: number; latencyFromSeq: number | null }
  | { cmd: "collect"; latencyFile: string | null }
  | { cmd: "close" };

export interface ConnectedReply {
  type: "connected";
  /** Connections this process holds now, earlier ones included. */
  open: number;
  failed: number;
  ms: number;
  firstError: string | null;
}

export interface ClientResult {
  type: "result";
  sockets: number;
  /** Sockets that received the whole expected range. */
  complete: number;
  /** Messages that advanced a socket's sequence (each counted once). */
  received: number;
  /** Expected messages that did not arrive (gaps and the unreceived tail), summed over sockets. */
  missing: number;
  /** Messages whose sequence number was at or below one already seen. */
  duplicateOrReordered: number;
  /** Messages that carried no sequence number. */
  other: number;
  /** Connections closed before the client closed them. */
  closedEarly: number;
  firstClose: string | null;
  firstRecvMs: number;
  lastRecvMs: number;
  /** Longest time between two consecutive arrivals on this process, in ms (a stall shows here). */
  longestGapMs: number;
  latencySamples: number;
}

export type ClientReply =
  | ConnectedReply
  | { type: "armed" }
  | { type: "complete"; atMs: number }
  | ClientResult
  | { type: "closed"; ms: number };

/** The part of a socket.io-client 2.x socket this client uses. */
interface IoSocket {
  on(event: string, listener: (...args: unknown[]) => void): void;
  close(): void;
}
type IoConnect = (url: string, options: Record<string, unknown>) => IoSocket;

interface Tracked {
  next: number;
  received: number;
  duplicateOrReordered: number;
  complete: boolean;
  close: () => void;
  closed: boolean;
}

const CONNECT_TIMEOUT_MS = 30_000;

if (import.meta.main) {
  const sockets: Tracked[] = [];
  let expectFrom = 0;
  let expectEnd = 0;
  let armed = false;
  /** Latency is recorded for sequence numbers from this one on (earlier ones warm the path up); null: never. */
  let latencyFrom = Number.POSITIVE_INFINITY;
  let latencies = new Float64Array(1 << 16);
  let latencyCount = 0;
  let completeCount = 0;
  let other = 0;
  let closedEarly = 0;
  let firstClose: string | null = null;
  let firstRecvMs = 0;
  let lastRecvMs = 0;
  let longestGapMs = 0;
  let closing = false;
  let onAllClosed: (() => void) | null = null;
  let closedCount = 0;

  const onText = (socket: Tracked, text: string) => {
    const at = nowMs();
    const mark = readMark(text);
    if (mark === null || !armed) {
      other++;
      return;
    }
    if (firstRecvMs === 0) firstRecvMs = at;
    else if (at - lastRecvMs > longestGapMs) longestGapMs = at - lastRecvMs;
    lastRecvMs = at;
    const seq = mark.seq;
    if (seq >= socket.next) {
      socket.next = seq + 1;
      socket.received++;
    } else socket.duplicateOrReordered++;
    if (seq >= latencyFrom) {
      if (latencyCount === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[latencyCount++] = at - mark.sentMs;
    }
    if (!socket.complete && socket.next >= expectEnd) {
      socket.complete = true;
      completeCount++;
      if (completeCount === sockets.length) parent.reply({ type: "complete", atMs: at });
    }
  };

  const onClose = (socket: Tracked, why: string) => {
    if (socket.closed) return;
    socket.closed = true;
    closedCount++;
    if (!closing) {
      closedEarly++;
      firstClose ??= why;
    }
    if (closedCount === sockets.length) onAllClosed?.();
  };

  const openWs = (url: string): Promise<Tracked> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const socket: Tracked = {
        next: 0,
        received: 0,
        duplicateOrReordered: 0,
        complete: false,
        close: () => ws.close(1000, "done"),
        closed: false,
      };
      let opened = false;
      ws.onopen = () => {
        opened = true;
        resolve(socket);
      };
      ws.onmessage = (event) => {
        onText(socket, typeof event.data === "string" ? event.data : String(event.data));
      };
      ws.onclose = (event) => {
        if (!opened) reject(new Error(`closed before open: ${event.code} ${event.reason}`));
        else onClose(socket, `${event.code} ${event.reason}`);
      };
      ws.onerror = () => {
        if (!opened) reject(new Error("connection error"));
      };
    });

  let ioConnect: IoConnect | null = null;
  const openIo = (url: string): Promise<Tracked> => {
    if (ioConnect === null) {
      const path = process.env.SOCKET_IO_CLIENT;
      if (!path) throw new Error("SOCKET_IO_CLIENT is not set");
      ioConnect = require(path) as IoConnect;
    }
    const connect = ioConnect;
    return new Promise((resolve, reject) => {
      const io = connect(url, {
        transports: ["websocket"],
        forceNew: true,
        reconnection: false,
        timeout: CONNECT_TIMEOUT_MS,
      });
      const socket: Tracked = {
        next: 0,
        received: 0,
        duplicateOrReordered: 0,
        complete: false,
        close: () => io.close(),
        closed: false,
      };
      let opened = false;
      io.on("connect", () => {
        opened = true;
        resolve(socket);
      });
      io.on("connect_error", (error) => {
        if (!opened) reject(new Error(`connect_error: ${String(error)}`));
      });
      io.on("line", (line) => onText(socket, String(line)));
      io.on("disconnect", (reason) => onClose(socket, `disconnect ${String(reason)}`));
    });
  };

  const parent = serveParent<ClientRequest, ClientReply>(async (request) => {
    switch (request.cmd) {
      case "connect": {
        const started = nowMs();
        const open = request.kind === "ws" ? openWs : openIo;
        let failed = 0;
        let firstError: string | null = null;
        let launched = 0;
        const lane = async () => {
          while (launched < request.count) {
            launched++;
            try {
              sockets.push(await open(request.url));
            } catch (error) {
              failed++;
              firstError ??= error instanceof Error ? error.message : String(error);
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(request.concurrency, request.count) }, lane));
        parent.reply({ type: "connected", open: sockets.length, failed, ms: nowMs() - started, firstError });
        return;
      }
      case "expect": {
        expectFrom = request.firstSeq;
        expectEnd = request.firstSeq + request.count;
        latencyFrom = request.latencyFromSeq ?? Number.POSITIVE_INFINITY;
        latencyCount = 0;
        completeCount = 0;
        firstRecvMs = 0;
        lastRecvMs = 0;
        longestGapMs = 0;
        for (const socket of sockets) {
          socket.next = expectFrom;
          socket.received = 0;
          socket.duplicateOrReordered = 0;
          socket.complete = false;
        }
        armed = true;
        parent.reply({ type: "armed" });
        return;
      }
      case "collect": {
        armed = false;
        let received = 0;
        let duplicateOrReordered = 0;
        let complete = 0;
        for (const socket of sockets) {
          received += socket.received;
          duplicateOrReordered += socket.duplicateOrReordered;
          if (socket.complete) complete++;
        }
        if (request.latencyFile !== null) {
          writeFileSync(request.latencyFile, latencies.subarray(0, latencyCount));
        }
        parent.reply({
          type: "result",
          sockets: sockets.length,
          complete,
          received,
          missing: sockets.length * (expectEnd - expectFrom) - received,
          duplicateOrReordered,
          other,
          closedEarly,
          firstClose,
          firstRecvMs,
          lastRecvMs,
          longestGapMs,
          latencySamples: latencyCount,
        });
        return;
      }
      case "close": {
        const started = nowMs();
        closing = true;
        if (closedCount < sockets.length) {
          const allClosed = new Promise<void>((resolve) => {
            onAllClosed = resolve;
          });
          for (const socket of sockets) if (!socket.closed) socket.close();
          await Promise.race([allClosed, Bun.sleep(5000)]);
        }
        // The parent ends this process once it has the reply.
        parent.reply({ type: "closed", ms: nowMs() - started });
        return;
      }
    }
  });
}

export function spawnClient(index: number, socketIoClient: string | null) {
  return spawnWorker<ClientRequest, ClientReply>(`client-${index}`, import.meta.path, [], {
    manyFiles: true,
    env: socketIoClient === null ? {} : { SOCKET_IO_CLIENT: socketIoClient },
  });
}
