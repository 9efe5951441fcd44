/**
 * A load client run with Node and the `ws` package: the client most users script, and one that reads slower
 * than a Bun server can produce, so a server's handling of a slow reader shows. Plain JavaScript because
 * Node 20 runs no TypeScript. Driven over stdin/stdout, one JSON object a line (see node-clients.ts):
 *
 *   node bench/lib/node-client.mjs '<{"url","connections","firstSeq","count","latencyFromSeq","latencyFile","pause"}>'
 *
 * Prints `connected` once every connection is open (or failed), `complete` once each received every
 * sequence number of the range, and `result` when stdin says `collect`. Every connection checks that each
 * sequence number arrives once and in order; latency is arrival time minus the append time in the line.
 * With `pause: {afterLines, ms}` each connection stops reading its socket for `ms` once it received
 * `afterLines` lines: a reader stalled for a moment, so the server's handling of one that fell behind shows
 * every time rather than when the machine happens to slow the client down.
 */
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import WebSocket from "ws";

const MARK = "seq=";
const SEQ_DIGITS = 10;
const TIME_CHARS = 17;
/** Connections opened at once: a bounded handshake burst. */
const CONNECT_CONCURRENCY = 64;

const config = JSON.parse(process.argv[2] ?? "{}");
const expectEnd = config.firstSeq + config.count;
const latencyFrom = config.latencyFromSeq ?? Number.POSITIVE_INFINITY;
const nowMs = () => performance.timeOrigin + performance.now();
const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

const sockets = [];
let latencies = new Float64Array(1 << 16);
let latencyCount = 0;
let completeCount = 0;
let other = 0;
let closedEarly = 0;
let firstClose = null;
let firstRecvMs = 0;
let lastRecvMs = 0;
let longestGapMs = 0;
let closing = false;

function onText(socket, text) {
  const at = nowMs();
  const index = text.indexOf(MARK);
  if (index === -1) {
    other++;
    return;
  }
  const seqStart = index + MARK.length;
  const seq = Number(text.slice(seqStart, seqStart + SEQ_DIGITS));
  const timeStart = seqStart + SEQ_DIGITS + 3;
  if (firstRecvMs === 0) firstRecvMs = at;
  else if (at - lastRecvMs > longestGapMs) longestGapMs = at - lastRecvMs;
  lastRecvMs = at;
  if (seq >= socket.next) {
    socket.next = seq + 1;
    socket.received++;
  } else socket.duplicateOrReordered++;
  if (config.pause && socket.received === config.pause.afterLines) {
    socket.ws.pause();
    setTimeout(() => socket.ws.resume(), config.pause.ms);
  }
  if (seq >= latencyFrom) {
    if (latencyCount === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[latencyCount++] = at - Number(text.slice(timeStart, timeStart + TIME_CHARS));
  }
  if (!socket.complete && socket.next >= expectEnd) {
    socket.complete = true;
    completeCount++;
    if (completeCount === sockets.length) say({ type: "complete", atMs: at });
  }
}

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const socket = { ws, next: config.firstSeq, received: 0, duplicateOrReordered: 0, complete: false };
    let opened = false;
    ws.on("open", () => {
      opened = true;
      resolve(socket);
    });
    ws.on("message", (data) => onText(socket, data.toString()));
    ws.on("close", (code, reason) => {
      if (!opened) reject(new Error(`closed before open: ${code}`));
      else if (!closing) {
        closedEarly++;
        firstClose ??= `${code} ${reason.toString()}`;
      }
    });
    ws.on("error", (error) => {
      if (!opened) reject(error);
    });
  });
}

async function connectAll() {
  let launched = 0;
  let failed = 0;
  let firstError = null;
  const lane = async () => {
    while (launched < config.connections) {
      launched++;
      try {
        sockets.push(await open(config.url));
      } catch (error) {
        failed++;
        firstError ??= String(error?.message ?? error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, config.connections) }, lane));
  say({ type: "connected", open: sockets.length, failed, firstError });
}

function collect() {
  closing = true;
  let received = 0;
  let duplicateOrReordered = 0;
  for (const socket of sockets) {
    received += socket.received;
    duplicateOrReordered += socket.duplicateOrReordered;
    socket.ws.terminate();
  }
  if (config.latencyFile) writeFileSync(config.latencyFile, latencies.subarray(0, latencyCount));
  say({
    type: "result",
    sockets: sockets.length,
    complete: completeCount,
    received,
    missing: sockets.length * config.count - received,
    duplicateOrReordered,
    other,
    closedEarly,
    firstClose,
    firstRecvMs,
    lastRecvMs,
    longestGapMs,
  });
  process.exit(0);
}

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "collect") collect();
});
process.stdin.on("end", () => process.exit(0));
await connectAll();
