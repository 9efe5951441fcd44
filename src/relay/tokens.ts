/**
 * API tokens: a public key (a UUID) and a secret of 256 random bits, shown once.
 *
 * Only SHA-256 of the secret is stored. A slow password hash (`Bun.password`) protects low-entropy passwords
 * against guessing after a database leak; a 256-bit random secret cannot be guessed whatever the hash, and a
 * fast hash keeps authentication cheap when thousands of sockets reconnect at once.
 */
import { timingSafeEqual } from "node:crypto";

const SECRET_BYTES = 32;

export interface GeneratedToken {
  key: string;
  secret: string;
  secretHash: Uint8Array;
}

export function hashSecret(secret: string): Uint8Array {
  return new Bun.CryptoHasher("sha256").update(secret).digest();
}

export function generateToken(): GeneratedToken {
  const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(SECRET_BYTES))).toString("base64url");
  return { key: crypto.randomUUID(), secret, secretHash: hashSecret(secret) };
}

/** Constant-time: both sides are 32-byte digests whatever the length of the secret offered. */
export function secretMatches(secret: string, storedHash: Uint8Array): boolean {
  const offered = hashSecret(secret);
  return offered.length === storedHash.length && timingSafeEqual(offered, storedHash);
}

/** Token keys are UUIDs: anything else a client sends in their place is not repeated into logs. */
export function looksLikeTokenKey(key: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(key);
}

export interface Credentials {
  key: string;
  secret: string;
}

/**
 * Reads `Authorization: Bearer <key>:<secret>` or `Authorization: Basic base64(<key>:<secret>)` (the form
 * Webhook Relay's API clients send). Null when absent or malformed.
 */
export function parseAuthorization(header: string | null | undefined): Credentials | null {
  if (!header) return null;
  const space = header.indexOf(" ");
  if (space === -1) return null;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  let pair: string;
  if (scheme === "bearer") pair = value;
  else if (scheme === "basic") pair = Buffer.from(value, "base64").toString("utf8");
  else return null;
  const colon = pair.indexOf(":");
  if (colon <= 0 || colon === pair.length - 1) return null;
  return { key: pair.slice(0, colon), secret: pair.slice(colon + 1) };
}
