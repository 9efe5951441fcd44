/**
 * The request a relayed webhook becomes at the local target: the original method, the target's path with the
 * original query appended, the original headers minus the hop-by-hop ones, and the exact body bytes (so a
 * signature over them verifies; Content-Length is computed from those bytes by fetch). Pure.
 */
import type { WebhookFrame } from "./relay-frames.ts";

/**
 * Meaningful only for one connection (RFC 9110 §7.6.1), or describing the relay's own transfer rather than
 * the webhook: never forwarded. Host is the target's; Content-Length is recomputed from the exact bytes.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "expect",
]);

/** Methods fetch refuses to send with a body. */
const BODILESS = new Set(["GET", "HEAD"]);

export interface TargetRequest {
  url: string;
  /** Path and query as shown in the delivery line. */
  path: string;
  method: string;
  headers: Headers;
  body: Uint8Array | null;
}

export function targetRequest(target: URL, webhook: WebhookFrame): TargetRequest {
  const url = new URL(target);
  if (webhook.query !== "") url.search = url.search === "" ? webhook.query : `${url.search}&${webhook.query}`;
  const named = new Set<string>();
  for (const [name, values] of Object.entries(webhook.headers))
    if (name.toLowerCase() === "connection")
      for (const value of values) for (const token of value.split(",")) named.add(token.trim().toLowerCase());
  const headers = new Headers();
  for (const [name, values] of Object.entries(webhook.headers)) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    for (const value of values) headers.append(name, value);
  }
  const method = webhook.method.toUpperCase();
  return {
    url: url.href,
    path: `${url.pathname}${url.search}`,
    method,
    headers,
    body: BODILESS.has(method) ? null : webhook.body,
  };
}

/** First of a header's values, looked up case-insensitively (the socket sends Go's canonical names). */
export function headerValue(headers: Record<string, string[]>, name: string): string | null {
  const lower = name.toLowerCase();
  for (const [key, values] of Object.entries(headers))
    if (key.toLowerCase() === lower) return values[0] ?? null;
  return null;
}
