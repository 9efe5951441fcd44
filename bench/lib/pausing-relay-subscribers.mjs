// Relay subscribers that lag on purpose, for bench/relay-lag-wave.ts (Node, with the `ws` client users have).
// argv: url key secret sockets total pauseAfter pauseMs. Each socket subscribes to every bucket, stops
// reading its TCP socket after its first `pauseAfter` webhooks for `pauseMs`, then reads on. Prints one JSON
// line (`ready`) when all are subscribed, and one (`done`) when every socket has `total` webhooks, with the
// webhooks that came twice or out of store order (both must be 0).
import WebSocket from "ws";

const [url, key, secret, sockets, total, pauseAfter, pauseMs] = process.argv.slice(2);
const count = Number(sockets);
let subscribed = 0;
let finished = 0;
let outOfOrder = 0;
let duplicates = 0;
/** A cursor's two parts (`<ms>-<seq>` or `<epoch>-<hex>`) as numbers that order as the store does. */
const partsOf = (cursor) => {
  const cut = cursor.lastIndexOf("-");
  return [Number.parseInt(cursor.slice(0, cut), 16), Number.parseInt(cursor.slice(cut + 1), 16)];
};
for (let i = 0; i < count; i++) {
  const ws = new WebSocket(url);
  let received = 0;
  let last = [-1, -1];
  const seen = new Set();
  ws.on("open", () => {
    ws.send(JSON.stringify({ action: "auth", key, secret }));
    ws.send(JSON.stringify({ action: "subscribe", buckets: null }));
  });
  ws.on("message", (data) => {
    const message = JSON.parse(data.toString());
    if (message.type !== "webhook") {
      if (message.status === "subscribed" && ++subscribed === count)
        console.log(JSON.stringify({ type: "ready" }));
      return;
    }
    const at = partsOf(message.cursor);
    if (at[0] < last[0] || (at[0] === last[0] && at[1] <= last[1])) outOfOrder++;
    last = at;
    const { seq } = JSON.parse(message.body);
    if (seen.has(seq)) duplicates++;
    seen.add(seq);
    received++;
    if (received === Number(pauseAfter)) {
      ws._socket.pause();
      setTimeout(() => ws._socket.resume(), Number(pauseMs));
    }
    if (received === Number(total) && ++finished === count) {
      console.log(JSON.stringify({ type: "done", outOfOrder, duplicates }));
      process.exit(0);
    }
  });
  ws.on("error", (error) => {
    console.error(String(error));
    process.exit(1);
  });
}
