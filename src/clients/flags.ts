/** What the client commands' flag parsing shares: strict parsing with usage errors, and server URLs. Pure. */
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { UsageError } from "./exit-codes.ts";

/** The server both clients talk to unless `--url` names another: the server's own default port. */
export const DEFAULT_SERVER = "http://localhost:5000";

/** parseArgs, strict, with positionals; an unknown flag or a missing value becomes a UsageError. */
export function parseFlags<const T extends ParseArgsOptionsConfig>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** An http(s) URL given to `--<flag>`, or a UsageError naming the flag. */
export function httpUrl(flag: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--${flag} must be a URL, got "${value}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new UsageError(`--${flag} must be an http:// or https:// URL, got "${value}"`);
  return url;
}

/** Resolves after `ms`, or at once when `signal` aborts (a stopping command does not wait out a backoff). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Resolves once `signal` aborts (at once if it has). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
