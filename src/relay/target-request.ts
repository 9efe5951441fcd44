/**
 * The request a relayed webhook becomes at its destination (the agent's local target, or an output hookstream
 * delivers): the original method, the target's path with the
 * original query appended, the original headers minus the hop-by-hop ones, and the exact body bytes (so a
 * signature over them verifies; Content-Length is computed from those bytes by fetch). Pure.
 */
import { endToEndHeaders } from "./hop-by-hop.ts";

/** What of a webhook is re-sent. */
export interface RelayedRequest {
  method: string;
  /** Canonical header name → values. */
  headers: Record<string, string[]>;
  /** Raw, without `?`. */
  query: string;
  body: Uint8Array;
}

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

export function targetRequest(target: URL, webhook: RelayedRequest): TargetRequest {
  const url = new URL(target);
  if (webhook.query !== "") url.search = url.search === "" ? webhook.query : `${url.search}&${webhook.query}`;
  const headers = new Headers();
  for (const [name, values] of endToEndHeaders(webhook.headers))
    for (const value of values) headers.append(name, value);
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
