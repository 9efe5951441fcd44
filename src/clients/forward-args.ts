/**
 * `hookstream forward` flags and environment → options, or a UsageError naming what is wrong. Pure: the
 * environment and home directory are passed in.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { UsageError } from "./exit-codes.ts";
import { DEFAULT_SERVER, httpUrl, parseFlags } from "./flags.ts";

export const FORWARD_USAGE = `usage: hookstream forward (--target URL | --output NAME) [--url URL] [--buckets a,b | BUCKET...] [options]

Replays every webhook of the buckets to the target: same method, query, headers and exact body bytes.
With --output, only the bucket's messages for that output, each to the output's destination.
When an input asks for response passthrough, the app's answer is sent back to the waiting sender.
Credentials come from the environment: RELAY_KEY, RELAY_SECRET (a token that can read the buckets);
BUCKETS=a,b is read when no bucket is named (none: every bucket the token may read).

  -t, --target URL        where to send each webhook, e.g. http://localhost:3000/hook
  -o, --output NAME       serve this output (delivered by an agent): its destination, unless --target
  -u, --url URL           the hookstream server (default http://localhost:5000)
      --buckets a,b       buckets by name or id
      --events a,b        only these X-GitHub-Event values (others are skipped)
      --concurrency N     requests to the target at once (default 8)
      --ordered           one request at a time per bucket, in the order received
      --max-attempts N    tries per webhook on connection errors and 5xx before giving up (default 8)
      --timeout S         seconds to wait for the target's answer (default 30)
      --max-held N        deliveries held in memory between the socket and the target (default 1000);
                          past it reading stops, and resumes from the saved cursor once half are done
      --cursor-file PATH  where the position is kept (default: a file under ~/.local/state/hookstream)
      --json              one JSON object per delivery instead of a line
  -h, --help

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 failure (cursor file not writable), 2 bad usage,
3 credentials refused or revoked, 4 bucket refused.`;

export interface ForwardOptions {
  server: string;
  /** null: each message's output destination (with `output`). */
  target: URL | null;
  /** Only messages for this output; null: every delivery once, whatever its outputs. */
  output: string | null;
  key: string;
  secret: string;
  /** null: every bucket the token may read. */
  buckets: string[] | null;
  /** null: every event. */
  events: Set<string> | null;
  concurrency: number;
  ordered: boolean;
  maxAttempts: number;
  timeoutMs: number;
  /** Deliveries held between the socket and the target; past it the socket is closed until half are done. */
  maxHeld: number;
  cursorFile: string;
  json: boolean;
}

const list = (value: string | undefined): string[] | null => {
  const items = (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
  return items.length === 0 ? null : items;
};

function integer(
  flag: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max)
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got "${value}"`);
  return parsed;
}

/** Returns null for `--help`. */
export function parseForwardArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  home: string,
): ForwardOptions | null {
  const { values, positionals } = parseFlags(argv, FLAGS);
  if (values.help) return null;
  if (values.target === undefined && values.output === undefined)
    throw new UsageError("--target or --output is required");
  const target = values.target === undefined ? null : httpUrl("target", values.target);
  const output = values.output === undefined || values.output === "" ? null : values.output;
  const server = httpUrl("url", values.url ?? DEFAULT_SERVER).href;
  const key = env.RELAY_KEY ?? "";
  const secret = env.RELAY_SECRET ?? "";
  if (key === "" || secret === "")
    throw new UsageError("RELAY_KEY and RELAY_SECRET must be set (a token that can read the buckets)");
  if (values.buckets !== undefined && positionals.length > 0)
    throw new UsageError("name buckets either with --buckets or as arguments, not both");
  const buckets =
    positionals.length > 0
      ? positionals
      : values.buckets !== undefined
        ? list(values.buckets)
        : list(env.BUCKETS);
  const events = list(values.events);
  const stateHome = env.XDG_STATE_HOME || join(home, ".local", "state");
  // One position per server, subscription and target: another target or bucket set starts on its own.
  const identity = JSON.stringify([
    server,
    [...(buckets ?? [])].sort(),
    target?.href ?? null,
    ...(output === null ? [] : [output]),
  ]);
  const hash = createHash("sha256").update(identity).digest("hex").slice(0, 16);
  return {
    server,
    target,
    output,
    key,
    secret,
    buckets,
    events: events === null ? null : new Set(events.map((event) => event.toLowerCase())),
    concurrency: integer("concurrency", values.concurrency, 8, 1, 256),
    ordered: values.ordered,
    maxAttempts: integer("max-attempts", values["max-attempts"], 8, 1, 100),
    timeoutMs: integer("timeout", values.timeout, 30, 1, 3600) * 1000,
    maxHeld: integer("max-held", values["max-held"], 1000, 2, 100_000),
    cursorFile: values["cursor-file"] ?? join(stateHome, "hookstream", `forward-${hash}.json`),
    json: values.json,
  };
}

const FLAGS = {
  target: { type: "string", short: "t" },
  output: { type: "string", short: "o" },
  url: { type: "string", short: "u" },
  buckets: { type: "string" },
  events: { type: "string" },
  concurrency: { type: "string" },
  ordered: { type: "boolean", default: false },
  "max-attempts": { type: "string" },
  timeout: { type: "string" },
  "max-held": { type: "string" },
  "cursor-file": { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;
