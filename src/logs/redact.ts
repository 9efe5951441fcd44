/**
 * Secret masking for everything hookstream streams. It runs on the serialised JSON of an entry, so one pass
 * covers every field; the value patterns stop at quotes and backslashes, so the JSON stays valid.
 */

import type { LogEntry } from "./entry.ts";

/** What a secret is replaced with (its recognisable prefix or scheme, where it has one, is kept). */
export const MASK = "*****";

/** GitHub tokens by their documented prefixes: personal, OAuth, app server, app user, refresh, fine-grained. */
const GITHUB_TOKEN = /\b(gh[pousr]_)[A-Za-z0-9]{16,}|\b(github_pat_)[A-Za-z0-9_]{16,}/g;

/** `Authorization: Bearer x`, `authorization=token x`, `"Authorization": "Basic x"` (also inside JSON text). */
const AUTHORIZATION_VALUE =
  /\b(authorization\\?"?\s*[:=]\s*\\?"?\s*)(?:(bearer|token|basic)\s+)?(?!\*{5})[^\s"'\\,;]+/gi;

/**
 * `token <x>`, `token=<x>` and `"token": "<x>"` (also inside JSON text) where x is long enough to be a
 * credential. Short words are left alone so prose such as "token expired" or the processor's own
 * `token *****  23 API calls` stays readable.
 */
const TOKEN_VALUE = /\b(token(?:\\?"\s*:\s*\\?"|\s*[=:]?\s*))(?!\*{5})[A-Za-z0-9_\-.]{20,}/gi;

/**
 * Cheap pre-check so the common entry (no secret-looking text) costs one scan, not three. Every serialised
 * entry holds the key `token_spend`, which must not count as a hit or every entry would pay all three.
 */
const MAYBE_SECRET = /gh[pousr]_|github_pat_|authorization|token(?!_spend")/i;

export function redactSecrets(text: string): string {
  if (!MAYBE_SECRET.test(text)) return text;
  return text
    .replace(GITHUB_TOKEN, (_m, prefix?: string, patPrefix?: string) => `${prefix ?? patPrefix}${MASK}`)
    .replace(AUTHORIZATION_VALUE, (_m, head: string, scheme?: string) =>
      scheme ? `${head}${scheme} ${MASK}` : `${head}${MASK}`,
    )
    .replace(TOKEN_VALUE, (_m, head: string) => `${head}${MASK}`);
}

/**
 * The entry as a reader may see it: masked exactly as its serialised form is, so that what history searches,
 * filters and indexes is what it returns. The entry itself when nothing was masked.
 */
export function redactEntry(entry: LogEntry): LogEntry {
  const json = JSON.stringify(entry);
  const masked = redactSecrets(json);
  return masked === json ? entry : (JSON.parse(masked) as LogEntry);
}
