/**
 * smee.io's protocol on hookstream's paths, so the unchanged `smee-client` works against a server that also
 * stores every delivery and resumes:
 * - `POST /smee/<input-id>`: a webhook to that input, exactly as `/v1/webhooks/<input-id>`;
 * - `GET /smee/<input-id>` with `Accept: text/event-stream`: the input's deliveries as smee.io's events.
 *
 * A channel is an input: its URL is where the sender posts and where the client reads. Unlike smee.io,
 * reading needs a relay token that may read the input's bucket, as `?token=<key>:<secret>` (smee-client
 * keeps the URL's query) or `Authorization: Bearer <key>:<secret>`; failures count against the same
 * per-address limit as the socket; a revoked token's streams end within KEEPALIVE_MS. Without `Last-Event-ID`
 * the stream is live from now; with it (EventSource sends it on every reconnect) it continues right after that
 * delivery.
 */
import { type Context, Hono } from "hono";
import type { ConnectionLimiter } from "../transport/connections.ts";
import { errorBody } from "../transport/errors.ts";
import type { Peer } from "../transport/peer.ts";
import { allowRequestTime } from "../transport/request-time.ts";
import { type AppEnv, clientAddress } from "../transport/upgrade.ts";
import type { Feed } from "./feed.ts";
import { receiveWebhook } from "./input.ts";
import type { LocalSubscriber } from "./local-topics.ts";
import { bucketTopic } from "./protocol.ts";
import type { Relay } from "./relay.ts";
import { KEEPALIVE, READY_EVENT, smeeEvent } from "./smee-event.ts";
import { parseAuthorization } from "./tokens.ts";

/**
 * Bytes queued on one stream before the catch-up waits and the fan-out counts it as lagging (then it is fed
 * from the store at its own pace, as a slow socket is).
 */
const STREAM_HIGH_WATER_BYTES = 256 * 1024;
/** Bun closes an HTTP connection that sent nothing for 10 s (idleTimeout's default): speak well within. */
const KEEPALIVE_MS = 5_000;

export interface SmeeRouteDeps {
  relay: Relay;
  limiter: ConnectionLimiter;
  isShuttingDown: () => boolean;
}

const encoder = new TextEncoder();

function credentialsOf(c: Context<AppEnv>) {
  const token = c.req.query("token");
  return parseAuthorization(token === undefined ? c.req.header("authorization") : `Bearer ${token}`);
}

export function createSmeeRoutes({ relay, limiter, isShuttingDown }: SmeeRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post("/smee/:inputId", (c) =>
    receiveWebhook(relay, c.req.raw, c.req.param("inputId"), clientAddress(c), (ms) =>
      allowRequestTime(c, ms),
    ),
  );

  app.get("/smee/:inputId", async (c) => {
    if (!(c.req.header("accept") ?? "").includes("text/event-stream"))
      return c.json(errorBody("This channel speaks text/event-stream: send Accept: text/event-stream"), 406);
    if (isShuttingDown()) return c.json(errorBody("Server shutting down"), 503);
    const address = clientAddress(c);
    const credentials = credentialsOf(c);
    if (credentials === null)
      return c.json(errorBody("a relay token is required: ?token=<key>:<secret>", { field: "token" }), 401);
    const token = await relay.authenticate(address, credentials);
    if (token === "rate_limited")
      return c.json(errorBody("too many failed attempts"), 429, { "Retry-After": "60" });
    if (token === null) return c.json(errorBody("invalid key or secret", { field: "token" }), 401);
    const inputId = c.req.param("inputId");
    const route = await relay.store.resolveInput(inputId);
    // Unknown and unreadable look the same: a token learns nothing about buckets it may not read.
    if (route === null || (token.bucketIds !== null && !token.bucketIds.includes(route.bucket.id)))
      return c.json(errorBody("Unknown input", { field: "inputId" }), 404);
    const admission = limiter.admit(address);
    if (admission !== "ok") return c.json(errorBody("Too many connections"), 503, { "Retry-After": "5" });
    const lastEventId = c.req.header("last-event-id");
    const stream = openStream(relay, {
      inputId,
      bucketId: route.bucket.id,
      cursor: lastEventId === undefined || lastEventId === "" ? null : lastEventId,
      address,
      tokenKey: token.key,
      onEnd: () => limiter.release(address),
    });
    return new Response(stream, {
      headers: {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
      },
    });
  });

  return app;
}

interface StreamOptions {
  inputId: string;
  bucketId: string;
  cursor: string | null;
  address: string;
  /** The token that opened the stream: revoking it ends the stream at the next keepalive. */
  tokenKey: string;
  onEnd: () => void;
}

/** The event-stream of one client, fed by the relay's feed as a socket would be. */
function openStream(relay: Relay, options: StreamOptions): ReadableStream<Uint8Array> {
  let controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  let feed: Feed | null = null;
  let ended = false;
  let keepalive: ReturnType<typeof setInterval> | null = null;
  let forget: () => void = () => {};

  const write = (text: string): number => {
    if (ended || controller === null) return 0;
    const bytes = encoder.encode(text);
    controller.enqueue(bytes);
    return (controller.desiredSize ?? 0) < 0 ? -1 : bytes.byteLength;
  };

  const end = (closeStream: boolean) => {
    if (ended) return;
    ended = true;
    if (keepalive !== null) clearInterval(keepalive);
    feed?.stop(true);
    forget();
    options.onEnd();
    if (closeStream) controller?.close();
  };

  const subscriber: LocalSubscriber = {
    deliver: (payload) => void peer.send(payload),
    end: () => end(true),
  };

  /** The `id:` line of the last event written: a bucket with outputs sends one message per output. */
  let lastIdLine: string | null = null;
  const peer: Peer = {
    remoteAddress: options.address,
    send(data) {
      const event = smeeEvent(
        typeof data === "string" ? data : Buffer.from(data).toString(),
        options.inputId,
        Date.now(),
      );
      if (event === null) return 1;
      if (event.startsWith("id: ")) {
        const idLine = event.slice(0, event.indexOf("\n"));
        if (idLine === lastIdLine) return 1;
        lastIdLine = idLine;
      }
      return write(event);
    },
    subscribe: (topic) => relay.localTopics.subscribe(topic, subscriber),
    unsubscribe: (topic) => relay.localTopics.unsubscribe(topic, subscriber),
    close: () => end(true),
    getBufferedAmount: () =>
      controller === null ? 0 : STREAM_HIGH_WATER_BYTES - (controller.desiredSize ?? 0),
    cork: (batch) => batch(),
  };

  return new ReadableStream<Uint8Array>(
    {
      start(started) {
        controller = started;
        forget = relay.localTopics.open(subscriber);
        write(READY_EVENT);
        keepalive = setInterval(() => {
          write(KEEPALIVE);
          relay.store.findToken(options.tokenKey).then(
            (found) => {
              if (found === null || found.token.revokedAt !== null) end(true);
            },
            // The store is unreachable for now (cluster mode, Redis restarting); the next tick checks again.
            () => undefined,
          );
        }, KEEPALIVE_MS);
        feed = relay.startFeed(peer, {
          topics: [bucketTopic(options.bucketId)],
          bucketIds: [options.bucketId],
          cursor: options.cursor,
        });
      },
      pull() {
        feed?.drain();
      },
      cancel() {
        end(false);
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: STREAM_HIGH_WATER_BYTES }),
  );
}
