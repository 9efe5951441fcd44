/**
 * Probes for orchestrators, beside `/health` (which reports everything and stays 200 while degraded):
 * - `GET /livez`: the process answers HTTP. Nothing else is checked, so a Redis outage never gets every
 *   instance restarted at once.
 * - `GET /readyz`: this instance should get traffic now: the log pipeline has started and was not stopped, the
 *   relay store answers, Redis is reachable in cluster mode, and shutdown has not begun. 503 lists the reasons.
 * Both are open (no token): they reveal nothing but these reasons.
 */
import { Hono } from "hono";

/** A store check that takes longer than this counts as unreachable: a probe must answer within its timeout. */
export const STORE_CHECK_TIMEOUT_MS = 2_000;

export interface ReadinessSources {
  isShuttingDown(): boolean;
  /** Whether the log side is running: its first pass over the directory is done and it was not stopped. */
  logsRunning(): boolean;
  /** One cheap round trip to the relay store; rejects or hangs when the store cannot be reached. */
  pingStore?: () => Promise<unknown>;
  /** Cluster mode: whether the shared Redis answers. */
  redisUp?: () => boolean;
}

export interface Readiness {
  ready: boolean;
  /** Why not, one short sentence each; empty when ready. */
  reasons: string[];
}

/** null when the store answered in time, else why not. */
async function storeProblem(ping: () => Promise<unknown>): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(
      () => resolve(`no answer within ${STORE_CHECK_TIMEOUT_MS} ms`),
      STORE_CHECK_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([ping().then(() => null), late]);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    clearTimeout(timer);
  }
}

export async function checkReadiness(sources: ReadinessSources): Promise<Readiness> {
  const reasons: string[] = [];
  if (sources.isShuttingDown()) reasons.push("shutting down");
  if (!sources.logsRunning()) reasons.push("log follower not running");
  const redisDown = sources.redisUp !== undefined && !sources.redisUp();
  if (redisDown) reasons.push("Redis unreachable");
  // With Redis down the store is Redis: asking it too would only add a timeout to the answer.
  const problem = sources.pingStore === undefined || redisDown ? null : await storeProblem(sources.pingStore);
  if (problem !== null) reasons.push(`relay store unreachable: ${problem}`);
  return { ready: reasons.length === 0, reasons };
}

export function createProbeRoutes(sources: ReadinessSources): Hono {
  const routes = new Hono();
  routes.get("/livez", (c) => c.json({ status: "ok" }));
  routes.get("/readyz", async (c) => {
    const { ready, reasons } = await checkReadiness(sources);
    c.header("Cache-Control", "no-store");
    return ready ? c.json({ status: "ready" }) : c.json({ status: "not_ready", reasons }, 503);
  });
  return routes;
}
