/**
 * Request headers as the relay socket sends them: `{ "Canonical-Name": [values] }`, with names in the form
 * Go's `textproto.CanonicalMIMEHeaderKey` produces (Webhook Relay's server is Go, and Go clients look headers
 * up that way). Pure.
 */

/** RFC 7230 token characters; a name with any other byte is left as it is, as Go does. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Canonical forms already computed: header names repeat on every request. Past the limit it starts over. */
const MAX_CACHED_NAMES = 1024;
const cache = new Map<string, string>();

export function canonicalHeaderName(name: string): string {
  const cached = cache.get(name);
  if (cached !== undefined) return cached;
  const canonical = canonicalise(name);
  if (cache.size >= MAX_CACHED_NAMES) cache.clear();
  cache.set(name, canonical);
  return canonical;
}

function canonicalise(name: string): string {
  if (!TOKEN.test(name)) return name;
  let out = "";
  let upper = true;
  for (const char of name) {
    out += upper ? char.toUpperCase() : char.toLowerCase();
    upper = char === "-";
  }
  return out;
}

/**
 * `Host` is left out, as Go's server moves it out of the header map (and a client replaying the headers must
 * not send the relay's host to its own server). The Fetch API has already joined repeated headers with ", ";
 * each name therefore carries one value, except `Set-Cookie`. The result has no prototype.
 */
export function collectHeaders(headers: Headers): Record<string, string[]> {
  // No prototype: a header named `__proto__` or `constructor` is a key like any other, never an inherited member.
  const out: Record<string, string[]> = Object.create(null);
  for (const [name, value] of headers) {
    if (name === "host") continue;
    const canonical = canonicalHeaderName(name);
    const values = out[canonical];
    if (values === undefined) out[canonical] = [value];
    else values.push(value);
  }
  return out;
}
