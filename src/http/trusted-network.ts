/**
 * Whether a client address is on a trusted network: loopback, private (RFC 1918, IPv6 unique local) or
 * link-local — the original log viewer's gate for step logs. An address that is missing or not an IP is not.
 */
import { isIP } from "node:net";

function ipv4Trusted(address: string): boolean {
  const [a = -1, b = -1] = address.split(".").map(Number);
  return (
    a === 127 ||
    a === 10 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 169 && b === 254)
  );
}

export function isTrustedAddress(address: string): boolean {
  const kind = isIP(address);
  if (kind === 4) return ipv4Trusted(address);
  if (kind !== 6) return false;
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped !== null) return ipv4Trusted(mapped[1] as string);
  if (lower === "::1") return true;
  const first = Number.parseInt(lower.split(":")[0] || "0", 16);
  // fc00::/7 unique local, fe80::/10 link-local
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80;
}
