/**
 * How long a request may go without sending a byte. Bun closes a connection idle for `idleTimeout` seconds
 * (10 by default; Bun.serve here sets none), and a request whose answer is still being worked out counts as
 * idle: a history query allowed more than 10 s was cut off with a reset connection. A route that may work
 * longer allows its own request that long, through the server Bun passes to `fetch`.
 */
import type { Context } from "hono";
import type { AppEnv } from "./upgrade.ts";

/** Bun.serve's default `idleTimeout`: every request has at least this. */
export const DEFAULT_IDLE_SECONDS = 10;
/** Past its budget, a query still builds and starts sending its answer. */
const ANSWER_SLACK_SECONDS = 5;
/** The longest idle time Bun accepts. */
const MAX_IDLE_SECONDS = 960;

/** The idle time a request working for up to `budgetMs` needs: never shorter than Bun's default. */
export function idleSecondsFor(budgetMs: number): number {
  const needed = Math.ceil(budgetMs / 1000) + ANSWER_SLACK_SECONDS;
  return Math.min(MAX_IDLE_SECONDS, Math.max(DEFAULT_IDLE_SECONDS, needed));
}

/** Lets this request work for up to `budgetMs` before Bun may close its connection as idle. */
export function allowRequestTime(c: Context<AppEnv>, budgetMs: number): void {
  c.env?.timeout?.(c.req.raw, idleSecondsFor(budgetMs));
}
