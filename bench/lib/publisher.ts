/**
 * The client-ceiling publisher: a trivial Bun.serve WebSocket server that streams pre-serialised messages as
 * fast as its clients drain them. What the load clients receive from it is their own ceiling, the highest
 * rate the benchmark could observe from any server, so each figure can say which side limited it.
 *
 * `socketio` mode speaks just enough of engine.io 3 / socket.io 2 (frontail's protocol) for socket.io-client
 * 2.x: the open packet, the namespace connect, ping/pong and `line` events.
 */
import type { ServerWebSocket } from "bun";
import { serveParent, spawnWorker } from "./ipc.ts";
import { makeLine, nowMs } from "./workload.ts";

export type PublisherMode = "ws" | "socketio";

export type PublisherRequest =
  | { cmd: "listen"; mode: PublisherMode }
  | { cmd: "burst"; firstSeq: number; count: number }
  /** Steady rate, each message stamped as it is published: the clients' own latency floor. */
  | { cmd: "rate"; firstSeq: number; perSecond: number; count: number };

export type PublisherReply =
  | { type: "listening"; url: string }
  | { type: "sent"; count: number; ms: number; subscribers: number };

/** The publisher waits while any client has more than this queued, so nothing is ever dropped. */
const PACE_BUFFERED_BYTES = 4 * 1024 * 1024;
const PACE_EVERY_MESSAGES = 256;
const NAMESPACE = "/ceiling";
const TOPIC = "all";

export function spawnPublisher() {
  return spawnWorker<PublisherRequest, PublisherReply>("publisher", import.meta.path, [], {
    manyFiles: true,
  });
}

if (import.meta.main) {
  let mode: PublisherMode = "ws";
  const sockets = new Set<ServerWebSocket<undefined>>();
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request, bunServer) {
      if (bunServer.upgrade(request)) return;
      return new Response("upgrade required", { status: 426 });
    },
    websocket: {
      backpressureLimit: 64 * 1024 * 1024,
      idleTimeout: 0,
      open(ws) {
        sockets.add(ws);
        if (mode === "ws") {
          ws.subscribe(TOPIC);
          return;
        }
        ws.send(
          `0${JSON.stringify({ sid: crypto.randomUUID(), upgrades: [], pingInterval: 25000, pingTimeout: 60000 })}`,
        );
        ws.send("40");
      },
      message(ws, message) {
        if (mode !== "socketio" || typeof message !== "string") return;
        if (message === "2") ws.send("3");
        else if (message.startsWith(`40${NAMESPACE}`)) {
          ws.send(`40${NAMESPACE},`);
          ws.subscribe(TOPIC);
        }
      },
      close(ws) {
        sockets.delete(ws);
      },
    },
  });

  const maxBuffered = () => {
    let max = 0;
    for (const ws of sockets) max = Math.max(max, ws.getBufferedAmount());
    return max;
  };

  const frame = (line: string) => (mode === "ws" ? line : `42${NAMESPACE},${JSON.stringify(["line", line])}`);

  const steady = (request: Extract<PublisherRequest, { cmd: "rate" }>) =>
    new Promise<number>((resolve) => {
      const started = nowMs();
      let sent = 0;
      const timer = setInterval(() => {
        const due = Math.min(request.count, Math.floor(((nowMs() - started) * request.perSecond) / 1000) + 1);
        for (; sent < due; sent++)
          server.publish(TOPIC, frame(makeLine(request.firstSeq + sent, nowMs()).slice(0, -1)));
        if (sent >= request.count) {
          clearInterval(timer);
          resolve(nowMs() - started);
        }
      }, 1);
    });

  const parent = serveParent<PublisherRequest, PublisherReply>(async (request) => {
    if (request.cmd === "listen") {
      mode = request.mode;
      const base = `127.0.0.1:${server.port}`;
      parent.reply({
        type: "listening",
        url: mode === "ws" ? `ws://${base}/` : `http://${base}${NAMESPACE}`,
      });
      return;
    }
    if (request.cmd === "rate") {
      const ms = await steady(request);
      parent.reply({ type: "sent", count: request.count, ms, subscribers: sockets.size });
      return;
    }
    const frames: string[] = new Array(request.count);
    const sentMs = nowMs();
    for (let i = 0; i < request.count; i++) {
      frames[i] = frame(makeLine(request.firstSeq + i, sentMs).slice(0, -1));
    }
    const started = nowMs();
    for (let i = 0; i < frames.length; i++) {
      server.publish(TOPIC, frames[i] as string);
      if (i % PACE_EVERY_MESSAGES === PACE_EVERY_MESSAGES - 1) {
        while (maxBuffered() > PACE_BUFFERED_BYTES) await Bun.sleep(1);
      }
    }
    parent.reply({ type: "sent", count: frames.length, ms: nowMs() - started, subscribers: sockets.size });
  });
}
