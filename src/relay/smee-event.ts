/**
 * A relayed webhook message as smee.io's event-stream carries it, so the unchanged `smee-client` forwards it:
 * one `message` event whose data is the request's headers (lower-case names, hop-by-hop ones dropped) with
 * `body` (parsed JSON, or a form's fields, as smee.io's server parses them), `query` (an object) and
 * `timestamp` beside them. The event's `id` is the delivery's cursor: EventSource sends it back as
 * `Last-Event-ID` when it reconnects, and the stream resumes right after it. Pure.
 */
import { endToEndHeaders } from "./hop-by-hop.ts";

/** Asks EventSource to reconnect after a second instead of its default three. */
export const SSE_RETRY_MS = 1000;

/** smee.io's first event on a new stream. */
export const READY_EVENT = `retry: ${SSE_RETRY_MS}\nevent: ready\ndata: {}\n\n`;

/** An SSE comment: keeps the connection (and any proxy on the way) from idling out; EventSource ignores it. */
export const KEEPALIVE = ":\n\n";

interface RelayedMessage {
  type?: unknown;
  status?: unknown;
  meta?: { input_id?: unknown };
  cursor?: unknown;
  headers?: Record<string, string[]>;
  query?: unknown;
  body?: unknown;
  body_encoding?: unknown;
}

function bodyValue(body: string, base64: boolean, contentType: string): unknown {
  if (base64) return body;
  if (contentType.includes("json"))
    try {
      return JSON.parse(body);
    } catch {
      return body;
    }
  if (contentType.startsWith("application/x-www-form-urlencoded"))
    return Object.fromEntries(new URLSearchParams(body));
  return body;
}

/**
 * The event-stream text for one message of the relay's fan-out or catch-up, or null when it is for another
 * input of the bucket. Statuses become named events (`gap`, `live`) that smee-client ignores.
 */
export function smeeEvent(message: string, inputId: string, now: number): string | null {
  const parsed = JSON.parse(message) as RelayedMessage;
  if (parsed.type === "status") return `event: ${String(parsed.status)}\ndata: ${message}\n\n`;
  if (parsed.type !== "webhook" || parsed.meta?.input_id !== inputId) return null;
  const headers: Record<string, string> = {};
  for (const [name, values] of endToEndHeaders(parsed.headers ?? {}))
    headers[name.toLowerCase()] = values.join(", ");
  const data = {
    ...headers,
    body: bodyValue(
      String(parsed.body ?? ""),
      parsed.body_encoding === "base64",
      headers["content-type"] ?? "",
    ),
    query: Object.fromEntries(new URLSearchParams(String(parsed.query ?? ""))),
    timestamp: now,
  };
  return `id: ${String(parsed.cursor)}\ndata: ${JSON.stringify(data)}\n\n`;
}
