/**
 * `bun run cli healthcheck [--live]`: asks the server this configuration describes for `/readyz` (or
 * `/livez`) and exits 0 when it answers 200, 1 otherwise. The container's HEALTHCHECK runs it, so the image
 * needs no curl and the check means what the orchestrators' probes mean.
 */
import type { Config } from "../process/config.ts";

/** Under the container HEALTHCHECK's own timeout (3 s), so the command reports why instead of being killed. */
export const HEALTHCHECK_TIMEOUT_MS = 2_500;

/** Where the server listens, seen from the same host: a wildcard address is reached over loopback. */
export function probeUrl(host: string, port: number, path: "/readyz" | "/livez"): string {
  const local = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${local.includes(":") ? `[${local}]` : local}:${port}${path}`;
}

export async function runHealthcheck(config: Config, args: readonly string[]): Promise<number> {
  const unknown = args.filter((arg) => arg !== "--live");
  if (unknown.length > 0) {
    console.error(`error: healthcheck takes only --live, got ${unknown.join(" ")}`);
    return 2;
  }
  const url = probeUrl(config.host, config.port, args.includes("--live") ? "/livez" : "/readyz");
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(HEALTHCHECK_TIMEOUT_MS) });
    const body = await response.text();
    if (response.ok) {
      console.log(`${url}: ${body}`);
      return 0;
    }
    console.error(`${url}: ${response.status} ${body}`);
    return 1;
  } catch (error) {
    console.error(`${url}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
