/**
 * Headers that describe one HTTP connection (RFC 9110 §7.6.1) or the relay's own transfer, never the
 * webhook: whoever re-sends a relayed webhook drops them. Host is the new target's; Content-Length follows
 * from the bytes sent; Expect asks the relay, not the app, to continue. Pure.
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

/** The headers worth re-sending: neither hop-by-hop nor named by a `Connection` header. */
export function endToEndHeaders(headers: Record<string, string[]>): Array<[name: string, values: string[]]> {
  const named = new Set<string>();
  for (const [name, values] of Object.entries(headers))
    if (name.toLowerCase() === "connection")
      for (const value of values) for (const token of value.split(",")) named.add(token.trim().toLowerCase());
  return Object.entries(headers).filter(([name]) => {
    const lower = name.toLowerCase();
    return !HOP_BY_HOP.has(lower) && !named.has(lower);
  });
}
