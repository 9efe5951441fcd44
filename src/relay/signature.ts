/**
 * GitHub's `X-Hub-Signature-256`: `sha256=<hex HMAC-SHA256 of the raw body>`. Pure.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

const PREFIX = "sha256=";
const HEX_DIGEST = /^[0-9a-fA-F]{64}$/;

export function githubSignature(secret: string, body: Uint8Array): string {
  return PREFIX + createHmac("sha256", secret).update(body).digest("hex");
}

/**
 * True when `header` is the signature of `body` under `secret`. A missing or malformed header is false; the
 * digests are compared as equal-length byte buffers in constant time.
 */
export function verifyGithubSignature(secret: string, body: Uint8Array, header: string | null): boolean {
  if (header === null || !header.startsWith(PREFIX)) return false;
  const given = header.slice(PREFIX.length);
  if (!HEX_DIGEST.test(given)) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(given, "hex"));
}
