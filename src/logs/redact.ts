/**
 * Secret masking for everything hookstream streams. It runs on the serialised JSON of an entry, so one pass
 * covers every field; the value patterns stop at quotes and backslashes, so the JSON stays valid.
 */

import type { LogEntry } from "./entry.ts";

/** What a secret is replaced with (its recognisable prefix or scheme, where it has one, is kept). */
export const MASK = "*****";

/*
 * The shapes are matched in any letter case and also URL-encoded (a query string, a logged URL): an underscore
 * may be `%5F`, a space `%20` or `+`, a quote `%22`, `=` and `:` `%3D` and `%3A`. A keyword must not continue
 * a word or number (`GITHUB_TOKEN=` and `access_token=` count, `mytoken` does not), unless it follows a URL
 * escape such as `%3D` or a JSON escape such as `\n`: in a serialised message a token at the start of a line
 * follows the letter n.
 *
 * A run of separators is one character class (or at most four `%20`) and each pattern takes one path through
 * it: a keyword followed by a megabyte of spaces costs a linear scan. Measured in Bun: `\s*[=:]?\s*` took 4 s
 * on 40,000 spaces (backtracking), and `(?:\s|%20|\+)*` 0.5 s on 200,000 (a repeated group of alternatives
 * leaves the regex engine's fast path); `[\s+]*` takes 50 ms on 1,000,000.
 */
const START = String.raw`(?:(?<![a-z0-9])|(?<=%[0-9a-f]{2})|(?<=\\[nrtbf]))`;
const UNDERSCORE = "(?:_|%5f)";
const SPACES = String.raw`(?:(?:%20){1,4}|[\s+]*)`;
const SPACE = String.raw`(?:(?:%20){1,4}|[\s+]+)`;
const QUOTE = String.raw`(?:\\?"|%22)`;
const EQUALS = "(?:[:=]|%3[ad])";

/** GitHub tokens by their documented prefixes: personal, OAuth, app server, app user, refresh, fine-grained. */
const GITHUB_TOKEN = new RegExp(
  `${START}(gh[pousr]${UNDERSCORE})[a-z0-9]{16,}|${START}(github${UNDERSCORE}pat${UNDERSCORE})(?:[a-z0-9_]|%5f){16,}`,
  "gi",
);

/** `Authorization: Bearer x`, `authorization=token x`, `"Authorization": "Basic x"` (also inside JSON text). */
const AUTHORIZATION_VALUE = new RegExp(
  `${START}(authorization${QUOTE}?${SPACES}${EQUALS}${SPACES}(?:${QUOTE}${SPACES})?)((?:bearer|token|basic)${SPACE})?(?!\\*{5})[^\\s"'\\\\,;]+`,
  "gi",
);

/**
 * `token <x>`, `token=<x>` and `"token": "<x>"` (also inside JSON text) where x is long enough to be a
 * credential. Short words are left alone so prose such as "token expired" or the processor's own
 * `token *****  23 API calls` stays readable.
 */
const TOKEN_VALUE = new RegExp(
  `${START}(token(?:${QUOTE}${SPACES}${EQUALS}${SPACES}${QUOTE}|${SPACES}(?:${EQUALS}${SPACES})?))(?!\\*{5})[a-z0-9_\\-.]{20,}`,
  "gi",
);

/**
 * Cheap pre-check so the common entry (no secret-looking text) costs one scan, not three. Every serialised
 * entry holds the key `token_spend`, which must not count as a hit or every entry would pay all three.
 */
const MAYBE_SECRET = /gh[pousr](?:_|%5f)|github(?:_|%5f)pat|authorization|token(?!_spend")/i;

export function redactSecrets(text: string): string {
  if (!MAYBE_SECRET.test(text)) return text;
  return text
    .replace(GITHUB_TOKEN, (_m, prefix?: string, patPrefix?: string) => `${prefix ?? patPrefix}${MASK}`)
    .replace(AUTHORIZATION_VALUE, (_m, head: string, scheme?: string) => `${head}${scheme ?? ""}${MASK}`)
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
