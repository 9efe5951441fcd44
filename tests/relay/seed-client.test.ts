/**
 * The client published with the original Webhook Relay socket server (seed document 002), run with node and
 * the `ws` package, unchanged except for the server address.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { relayFixture, repoRoot, type WebhookMessage } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

const CLIENT_JS = `// client.js
const WebSocket = require('ws');
var server = 'wss://my.webhookrelay.com/v1/socket';
var reconnectInterval = 1000 * 3;
var ws;
var apiKey = process.env.RELAY_KEY;
var apiSecret = process.env.RELAY_SECRET;
var connect = function(){
ws = new WebSocket(server);
ws.on('open', function() {
console.log('connected, sending authentication request');
ws.send(JSON.stringify({ action: 'auth', key: apiKey, secret: apiSecret }));
});
ws.on('message', function incoming(data) {
console.log(data)
// parse message and if we have authenticated, subscribe to our bucket
var msg = JSON.parse(data);
if (msg.type === 'status' && msg.status === 'authenticated') {
ws.send(JSON.stringify({ action: 'subscribe', buckets: ['my-bucket'] }));
}
});
ws.on('error', function() {
console.log('socket error');
});
ws.on('close', function() {
console.log('socket closed, reconnecting');
setTimeout(connect, reconnectInterval);
});
};
connect();
`;

/**
 * What `console.log(data)` printed. The seed was written for ws 6, which handed text frames over as strings;
 * ws 8 hands over a Buffer, which node prints as `<Buffer 7b 22 ... 49 more bytes>` (the first 50 bytes and
 * a count). Either way the printed line determines the message's first bytes and its length.
 */
function printedMessage(line: string): { prefix: string; length: number } {
  const buffer = /^<Buffer ((?:[0-9a-f]{2} ?)*)(?:\.\.\. (\d+) more bytes?)?>$/.exec(line);
  if (buffer === null) return { prefix: line, length: Buffer.byteLength(line) };
  const bytes = Buffer.from((buffer[1] ?? "").replaceAll(" ", ""), "hex");
  return { prefix: bytes.toString("utf8"), length: bytes.length + Number(buffer[2] ?? 0) };
}

/** Runs the seed's client.js with node in `dir`, pointed at `url`; what it prints is collected as it comes. */
function startSeedClient(dir: string, url: string, token: { key: string; secret: string }) {
  writeFileSync(join(dir, "client.js"), CLIENT_JS.replace("wss://my.webhookrelay.com/v1/socket", url));
  const child = Bun.spawn(["node", "client.js"], {
    cwd: dir,
    env: {
      ...process.env,
      NODE_PATH: join(repoRoot, "node_modules"),
      RELAY_KEY: token.key,
      RELAY_SECRET: token.secret,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  let printed = "";
  const pump = (async () => {
    for await (const chunk of child.stdout) printed += new TextDecoder().decode(chunk);
  })();
  return {
    child,
    pump,
    output: () => printed,
    lines: () => printed.split("\n").filter((line) => line !== ""),
  };
}

function expectPrinted(line: string | undefined, message: string) {
  const printed = printedMessage(line ?? "");
  expect(message.startsWith(printed.prefix)).toBe(true);
  expect(printed.length).toBe(Buffer.byteLength(message));
}

describe("the seed's client.js", () => {
  test("authenticates, subscribes to my-bucket and prints the webhook", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hookstream-seed-relay-"));
    try {
      await using server = await startTestServer();
      await using relay = await relayFixture(server);
      const bucket = await relay.createBucket("my-bucket");
      const token = await relay.createToken();
      const { child, pump, output, lines } = startSeedClient(dir, server.wsUrl("/v1/socket"), token);
      try {
        await waitFor(() => lines().length >= 3, 10_000, "client subscribed");
        const input = bucket.inputs[0]?.id ?? "";
        const sent = await relay.post(input, '{"hi": "there"}', {
          query: "foo=bar",
          headers: { "Content-Type": "application/json", "User-Agent": "insomnia/6.2.3", Accept: "*/*" },
        });
        expect(sent.status).toBe(200);
        await waitFor(() => lines().length >= 4, 5000, "webhook printed");
        await server.shutdown();
        await waitFor(() => output().includes("socket closed, reconnecting"), 5000, "close printed");
      } finally {
        child.kill();
        await child.exited;
        await pump;
      }

      const [connected, authenticated, subscribed, webhook, closed] = lines();
      expect(connected).toBe("connected, sending authentication request");
      expectPrinted(
        authenticated,
        '{"type":"status","status":"authenticated","message":"connected successfully, subscribe to buckets"}',
      );
      expectPrinted(
        subscribed,
        '{"type":"status","status":"subscribed","message":"subscribed to buckets: my-bucket"}',
      );
      const stored = await relay.store.listDeliveries(bucket.id, null, 10);
      expect(stored).toHaveLength(1);
      expect(closed).toBe("socket closed, reconnecting");
      // The printed message starts like, and is exactly as long as, the one the relay built for it.
      const full: WebhookMessage = {
        type: "webhook",
        meta: {
          id: stored[0]?.id ?? "",
          bucked_id: bucket.id,
          bucket_name: "my-bucket",
          input_id: bucket.inputs[0]?.id ?? "",
          input_name: "Default public endpoint",
          output_name: "",
          output_destination: "",
        },
        cursor: (await relay.store.deliveryPosition()).cursors.format(Number(stored[0]?.id)),
        headers: stored[0]?.headers ?? {},
        query: "foo=bar",
        body: '{"hi": "there"}',
        method: "POST",
      };
      expectPrinted(webhook, JSON.stringify(full));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the seed's client.js with a bucket that has outputs", () => {
  test("prints one message per output, each naming it, as the seed's own output shows", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hookstream-seed-outputs-"));
    try {
      await using server = await startTestServer();
      await using relay = await relayFixture(server);
      const bucket = await relay.createBucket("my-bucket");
      const outputs = [
        ["22", "https://bin.example.com/v1/webhooks/e9274477-c8a7-4497-8f7a-a10d7fcb6ba9"],
        ["111", "https://bin.example.com/v1/webhooks/a0572aa4-bb90-4638-b97c-a37654798c73"],
      ];
      for (const [name, destination] of outputs)
        expect(
          (
            await relay.api("POST", "/v1/buckets/my-bucket/outputs", {
              name,
              destination,
              delivered_by: "agent",
            })
          ).status,
        ).toBe(201);
      const token = await relay.createToken();
      const { child, pump, lines } = startSeedClient(dir, server.wsUrl("/v1/socket"), token);
      try {
        await waitFor(() => lines().length >= 3, 10_000, "client subscribed");
        const sent = await relay.post(bucket.inputs[0]?.id ?? "", '{"hi": "there"}', {
          query: "foo=bar",
          headers: { "Content-Type": "application/json" },
        });
        expect(sent.status).toBe(200);
        await waitFor(() => lines().length >= 5, 5000, "two webhooks printed");
      } finally {
        child.kill();
        await child.exited;
        await pump;
      }
      const stored = await relay.store.listDeliveries(bucket.id, null, 10);
      expect(stored).toHaveLength(1);
      const cursor = (await relay.store.deliveryPosition()).cursors.format(Number(stored[0]?.id));
      const printed = lines().slice(3, 5);
      expect(printed).toHaveLength(2);
      outputs.forEach(([name, destination], index) => {
        const full: WebhookMessage = {
          type: "webhook",
          meta: {
            id: stored[0]?.id ?? "",
            bucked_id: bucket.id,
            bucket_name: "my-bucket",
            input_id: bucket.inputs[0]?.id ?? "",
            input_name: "Default public endpoint",
            output_name: name ?? "",
            output_destination: destination ?? "",
          },
          cursor,
          headers: stored[0]?.headers ?? {},
          query: "foo=bar",
          body: '{"hi": "there"}',
          method: "POST",
        };
        expectPrinted(printed[index], JSON.stringify(full));
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
