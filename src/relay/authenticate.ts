/**
 * Relay token authentication, for the admin API and `/v1/socket` alike, with failures counted by the
 * server's one credential limiter.
 */
import type { AuthLimiter } from "../transport/auth-limiter.ts";
import type { Token, TokenStore } from "./store.ts";
import { type Credentials, secretMatches } from "./tokens.ts";

export type Authenticate = (
  address: string,
  credentials: Credentials,
) => Promise<Token | null | "rate_limited">;

/**
 * Failures count against the key they name, so guessing one token's secret does not lock out other tokens
 * used from the same address. Keys that do not exist share one record per address: they cannot succeed,
 * and one record each would let a flood of made-up keys push real records out.
 */
export function createAuthenticate(store: Pick<TokenStore, "findToken">, limiter: AuthLimiter): Authenticate {
  return async (address, credentials) => {
    const found = await store.findToken(credentials.key);
    const credential = found === null ? "relay-key:unknown" : `relay-key:${found.token.key}`;
    if (!limiter.allows(address, credential)) return "rate_limited";
    if (
      found === null ||
      found.token.revokedAt !== null ||
      !secretMatches(credentials.secret, found.secretHash)
    ) {
      limiter.recordFailure(address, credential);
      return null;
    }
    return found.token;
  };
}
