// The relay's calibration floor, run with Node: it answers a POST with 200 and hands the body unchanged to
// every connected WebSocket client. No storage, no signature check, no protocol: whatever a relay does
// beyond this is its own cost. `PORT=<n> node bench/peers/nostore-relay.mjs`.
import { createServer } from "node:http";
import { WebSocketServer } from "ws";

const server = createServer((request, response) => {
  if (request.method !== "POST") {
    response.writeHead(404).end();
    return;
  }
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks);
    for (const client of sockets.clients) if (client.readyState === 1) client.send(body, { binary: false });
    response.writeHead(200, { "Content-Length": "0" }).end();
  });
});
const sockets = new WebSocketServer({ server });
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
