/**
 * `hookstream tail` flags and environment → the `/logs/ws` query and output options, or a UsageError naming
 * the flag. The server validates again (and answers 400 naming the parameter); this catches typos before a
 * connection is made. Pure.
 */
import { UsageError } from "./exit-codes.ts";
import { DEFAULT_SERVER, httpUrl, parseFlags } from "./flags.ts";

export const TAIL_USAGE = `usage: hookstream tail [--url URL] [filters] [--tail N | --since TIME | --cursor C] [--json]

Streams log entries from a hookstream server's /logs/ws, filtered on the server, reconnecting with the
last entry's cursor so nothing is missed or repeated.

  -u, --url URL          the hookstream server (default http://localhost:5000)
      --hook-id ID       filters, exact match, combined with AND
      --pr-number N
      --repository OWNER/REPO
      --event-type TYPE
      --github-user USER
      --level LEVEL      DEBUG, INFO, WARNING, ERROR, CRITICAL, COMPLETED, SUCCESS, STEP, UNKNOWN
  -n, --tail N           start with the last N matching entries (0-10000)
      --since TIME       start with entries from this ISO 8601 time
      --cursor C         start right after the entry with this cursor
      --json             one JSON object per line (for jq)
      --no-color         no colours (also: NO_COLOR set, or output not a terminal)
      --token TOKEN      LOGS_TOKEN of the server (default: $LOGS_TOKEN)
  -h, --help

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 failure, 2 bad usage, 3 token refused, 4 filter refused.`;

/** Flag → query parameter of `/logs/ws`. */
const FILTER_FLAGS = {
  "hook-id": "hook_id",
  "pr-number": "pr_number",
  repository: "repository",
  "event-type": "event_type",
  "github-user": "github_user",
  level: "level",
} as const;

export interface TailOptions {
  server: string;
  /** Filters and the start, as query parameters. */
  query: Record<string, string>;
  json: boolean;
  /** Colour unless --no-color or NO_COLOR; the caller also checks that the output is a terminal. */
  color: boolean;
  token: string | null;
}

/** Returns null for `--help`. */
export function parseTailArgs(argv: string[], env: Record<string, string | undefined>): TailOptions | null {
  const { values, positionals } = parseFlags(argv, FLAGS);
  if (values.help) return null;
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const server = httpUrl("url", values.url ?? DEFAULT_SERVER);
  const query: Record<string, string> = {};
  for (const [flag, parameter] of Object.entries(FILTER_FLAGS)) {
    const value = values[flag as keyof typeof FILTER_FLAGS];
    if (value !== undefined && value !== "") query[parameter] = value;
  }
  if (query.pr_number !== undefined && !/^\d{1,15}$/.test(query.pr_number))
    throw new UsageError(`--pr-number must be a positive integer, got "${query.pr_number}"`);
  const starts = (["tail", "since", "cursor"] as const).filter((flag) => values[flag] !== undefined);
  if (starts.length > 1)
    throw new UsageError(`use only one of --tail, --since, --cursor (got ${starts.join(", ")})`);
  if (values.tail !== undefined) {
    if (!/^\d{1,5}$/.test(values.tail) || Number(values.tail) > 10_000)
      throw new UsageError(`--tail must be an integer from 0 to 10000, got "${values.tail}"`);
    query.tail = values.tail;
  }
  if (values.since !== undefined) {
    if (!/^\d{4}-\d\d-\d\d/.test(values.since) || Number.isNaN(Date.parse(values.since)))
      throw new UsageError(`--since must be an ISO 8601 time, got "${values.since}"`);
    query.since = values.since;
  }
  if (values.cursor !== undefined) query.cursor = values.cursor;
  const token = values.token ?? env.LOGS_TOKEN ?? "";
  return {
    server: server.href,
    query,
    json: values.json,
    // no-color.org: set and not empty.
    color: !values["no-color"] && (env.NO_COLOR ?? "") === "",
    token: token === "" ? null : token,
  };
}

const FLAGS = {
  url: { type: "string", short: "u" },
  "hook-id": { type: "string" },
  "pr-number": { type: "string" },
  repository: { type: "string" },
  "event-type": { type: "string" },
  "github-user": { type: "string" },
  level: { type: "string" },
  tail: { type: "string", short: "n" },
  since: { type: "string" },
  cursor: { type: "string" },
  json: { type: "boolean", default: false },
  "no-color": { type: "boolean", default: false },
  token: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;
