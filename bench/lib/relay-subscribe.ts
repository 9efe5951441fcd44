/**
 * One subscriber connection of the relay benchmarks, in the protocol of the relay under test:
 *
 * - `relay`: hookstream's `/v1/socket` (auth, subscribe, then `webhook` frames with the body JSON-escaped);
 * - `plain`: a WebSocket that receives each webhook body as it was POSTed (the no-store calibration relay);
 * - `sse`: smee.io's event-stream (`GET /<channel>`, `Accept: text/event-stream`, one `data:` line per webhook
 *   with the body as parsed JSON inside).
 *
 * Frames are read with `indexOf` at known places, never with `JSON.parse`: with a hundred subscribers in one
 * process, parsing every ~7 KB frame would make the load process the bottleneck.
 */

export type SubscribeProtocol = "relay" | "plain" | "sse";

export interface SubscriberEvents {
  /** A webhook arrived: its frame text, and the receive time. */
  webhook(text: string, atMs: number): void;
  /** A status other than ping/authenticated/subscribed/ready (errors, gaps). */
  otherStatus(text: string): void;
  /** The connection ended after it had subscribed. */
  closed(reason: string): void;
}

export interface SubscriberConnection {
  close(): void;
  readonly isClosed: () => boolean;
}

export interface SubscribeTarget {
  protocol: SubscribeProtocol;
  url: string;
  key: string;
  secret: string;
}

export const RELAY_WEBHOOK_PREFIX = '{"type":"webhook","meta":{"id":"';

const nowMs = () => performance.timeOrigin + performance.now();

/** Opens one connection; resolves once it receives webhooks (subscribed, connected, or ready). */
export function openSubscriber(
  target: SubscribeTarget,
  events: SubscriberEvents,
): Promise<SubscriberConnection> {
  return target.protocol === "sse" ? openEventStream(target.url, events) : openSocket(target, events);
}

function openSocket(target: SubscribeTarget, events: SubscriberEvents): Promise<SubscriberConnection> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target.url);
    let subscribed = false;
    let closed = false;
    const connection: SubscriberConnection = { close: () => ws.close(1000, "done"), isClosed: () => closed };
    const ready = () => {
      subscribed = true;
      resolve(connection);
    };
    ws.onopen = () => {
      if (target.protocol === "plain") ready();
      else ws.send(JSON.stringify({ action: "auth", key: target.key, secret: target.secret }));
    };
    ws.onmessage = (event) => {
      const text = typeof event.data === "string" ? event.data : String(event.data);
      if (target.protocol === "plain" || text.startsWith(RELAY_WEBHOOK_PREFIX)) {
        events.webhook(text, nowMs());
        return;
      }
      const status = (JSON.parse(text) as { status?: string }).status;
      if (status === "authenticated") ws.send(JSON.stringify({ action: "subscribe" }));
      else if (status === "subscribed") ready();
      else if (status !== "ping") events.otherStatus(text.slice(0, 300));
    };
    ws.onclose = (event) => {
      closed = true;
      if (!subscribed) reject(new Error(`closed before subscribing: ${event.code} ${event.reason}`));
      else events.closed(`${event.code} ${event.reason}`);
    };
    ws.onerror = () => {
      if (!subscribed) reject(new Error("connection error"));
    };
  });
}

/** Event-stream subscriber: events are cut at blank lines; a webhook is an event without an `event:` line. */
async function openEventStream(url: string, events: SubscriberEvents): Promise<SubscriberConnection> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { Accept: "text/event-stream" }, signal: abort.signal });
  if (response.status !== 200 || response.body === null)
    throw new Error(`event-stream answered ${response.status}`);
  let closed = false;
  let closing = false;
  const connection: SubscriberConnection = {
    close: () => {
      closing = true;
      abort.abort();
    },
    isClosed: () => closed,
  };
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  return new Promise((resolve, reject) => {
    let subscribed = false;
    let buffer = "";
    const onEvent = (block: string) => {
      if (block.includes("\nevent: ready") || block.startsWith("event: ready")) {
        subscribed = true;
        resolve(connection);
      } else if (!block.includes("event: ")) {
        const data = block.indexOf("data: ");
        if (data !== -1) events.webhook(block.slice(data + 6), nowMs());
      }
    };
    const pump = async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end = buffer.indexOf("\n\n"); end !== -1; end = buffer.indexOf("\n\n")) {
          onEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    };
    pump()
      .catch((error: unknown) => {
        if (!closing) events.otherStatus(`event-stream failed: ${String(error)}`);
      })
      .finally(() => {
        closed = true;
        if (!subscribed) reject(new Error("event-stream ended before it was ready"));
        else if (!closing) events.closed("event-stream ended");
      });
  });
}

const ESCAPED = { seq: '{\\"seq\\":', sent: '\\"sent_at\\":' };
const PLAIN = { seq: '{"seq":', sent: '"sent_at":' };

/**
 * The benchmark payload's leading `seq` and `sent_at` (it starts `{"seq":N,"sent_at":T,`), found in the frame
 * escaped (hookstream's `body` string) or as is (a raw body, or smee's parsed `body` object); null when absent.
 */
export function seqAndSent(text: string, from: number): { seq: number; sentMs: number } | null {
  for (const marks of [ESCAPED, PLAIN]) {
    const at = text.indexOf(marks.seq, from);
    if (at === -1) continue;
    const seqStart = at + marks.seq.length;
    const seqEnd = text.indexOf(",", seqStart);
    const sentStart = seqEnd + 1 + marks.sent.length;
    return {
      seq: Number(text.slice(seqStart, seqEnd)),
      sentMs: Number(text.slice(sentStart, text.indexOf(",", sentStart))),
    };
  }
  return null;
}
