/**
 * `hookstream replay BUCKET DELIVERY_ID`: asks a running server to re-send a stored delivery (the admin API's
 * `POST /v1/buckets/:bucket/deliveries/:id/replay`). It goes through the server, not the database, because
 * only the server publishes to its live subscribers.
 */
import { ExitCode, type ExitCodeValue, UsageError } from "./exit-codes.ts";
import { DEFAULT_SERVER, httpUrl, parseFlags } from "./flags.ts";

export const REPLAY_USAGE = `usage: hookstream replay [--url URL] BUCKET DELIVERY_ID [--json]

Re-sends a stored delivery to the bucket's subscribers, marked as a replay ("replay":{"of":ID} on the socket).
Credentials of an admin token come from RELAY_KEY and RELAY_SECRET.

  -u, --url URL   the hookstream server (default http://localhost:5000)
      --json      print the server's answer: {"id","cursor","replay_of","bucket"}
  -h, --help

Exit codes: 0 re-sent, 1 the server could not be reached or could not store it, 2 bad usage,
3 credentials refused (or not an admin token), 4 no such bucket or delivery.`;

export interface ReplayOptions {
  server: URL;
  bucket: string;
  id: string;
  key: string;
  secret: string;
  json: boolean;
}

/** Returns null for `--help`. Pure. */
export function parseReplayArgs(
  argv: string[],
  env: Record<string, string | undefined>,
): ReplayOptions | null {
  const { values, positionals } = parseFlags(argv, {
    url: { type: "string", short: "u" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) return null;
  const [bucket, id, ...rest] = positionals;
  if (bucket === undefined || id === undefined) throw new UsageError("BUCKET and DELIVERY_ID are required");
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const key = env.RELAY_KEY ?? "";
  const secret = env.RELAY_SECRET ?? "";
  if (key === "" || secret === "")
    throw new UsageError("RELAY_KEY and RELAY_SECRET must be set (an admin token)");
  return { server: httpUrl("url", values.url ?? DEFAULT_SERVER), bucket, id, key, secret, json: values.json };
}

export async function runReplay(
  options: ReplayOptions,
  io: { out(line: string): void; err(line: string): void },
): Promise<ExitCodeValue> {
  const base = options.server.href.replace(/\/+$/, "");
  const url = `${base}/v1/buckets/${encodeURIComponent(options.bucket)}/deliveries/${encodeURIComponent(options.id)}/replay`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { Authorization: `Bearer ${options.key}:${options.secret}` },
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    io.err(`error: cannot reach ${base}: ${(error as Error).message}`);
    return ExitCode.FAILURE;
  }
  const text = await response.text();
  if (response.status === 201) {
    const answer = JSON.parse(text) as { id: string; replay_of: string };
    io.out(options.json ? text : `re-sent delivery ${answer.replay_of} as delivery ${answer.id}`);
    return ExitCode.OK;
  }
  io.err(`error: the server answered ${response.status}: ${text}`);
  if (response.status === 401 || response.status === 403) return ExitCode.UNAUTHORIZED;
  if (response.status === 404) return ExitCode.REFUSED;
  return ExitCode.FAILURE;
}
