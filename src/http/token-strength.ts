/**
 * A start-up check of LOGS_TOKEN. It is one secret with no public part, so only its own strength and the
 * failed-attempt limit stand between a guesser and the logs. Pure.
 */

/** Shorter tokens are weak whatever they hold: 24 random base64url characters carry 144 bits. */
export const MIN_STRONG_TOKEN_CHARS = 24;
/**
 * Below this estimate a token is weak. Measured: 32 random hex characters (`openssl rand -hex 16`) estimate
 * 111–123 bits and 24 random base64url characters 99–104; a word with counted digits 62, a repeated pair 32.
 */
export const MIN_TOKEN_ESTIMATE_BITS = 96;

/**
 * The token's length times the Shannon entropy of its own characters: a ceiling on what it could hold, low
 * for repeats and small alphabets. It cannot see that a phrase is made of words, so it only ever errs towards
 * calling a token strong.
 */
export function estimateTokenBits(token: string): number {
  const chars = [...token];
  const counts = new Map<string, number>();
  for (const char of chars) counts.set(char, (counts.get(char) ?? 0) + 1);
  let perChar = 0;
  for (const count of counts.values()) {
    const p = count / chars.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * chars.length;
}

/** Why the token is weak, as a sentence for the start-up warning, or null when it is not. */
export function weakTokenReason(token: string): string | null {
  const length = [...token].length;
  if (length < MIN_STRONG_TOKEN_CHARS)
    return `LOGS_TOKEN is weak: ${length} characters, fewer than ${MIN_STRONG_TOKEN_CHARS}. Use a random one, e.g. \`openssl rand -base64 32\`.`;
  const bits = Math.floor(estimateTokenBits(token));
  if (bits < MIN_TOKEN_ESTIMATE_BITS)
    return `LOGS_TOKEN is weak: its characters repeat too much (about ${bits} bits, fewer than ${MIN_TOKEN_ESTIMATE_BITS}). Use a random one, e.g. \`openssl rand -base64 32\`.`;
  return null;
}
