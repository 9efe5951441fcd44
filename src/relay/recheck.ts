/**
 * Closing the open sessions whose token is no longer active, and picking up what another process (the CLI,
 * another instance) changed in the store. The store says when tokens or buckets may have changed
 * (`watchChanges`): this process's own revocations at once, another process's as soon as the store sees them
 * (SQLite: its file watched; Redis: a channel). Asking also makes those changes visible to the store's cached
 * input routes (see `externalChanges`).
 *
 * A poll remains: every `intervalMs` while the store cannot report other processes' changes (no inotify, a
 * Redis subscription not up yet), else only as a safety net every SAFETY_NET_RECHECK_MS.
 */

import { StoreUnavailableError } from "../transport/errors.ts";
import type { SessionRegistry } from "./sessions.ts";
import type { ChangeOrigin, RelayStore } from "./store.ts";

/**
 * The re-check while the store reports every change: it covers only what no report reached (a change whose
 * announcement was lost between a Redis failure and its probe noticing). One look a minute costs nothing
 * measurable idle.
 */
export const SAFETY_NET_RECHECK_MS = 60_000;

export interface RecheckOptions {
  store: Pick<RelayStore, "externalChanges" | "inactiveTokens" | "watchChanges">;
  sessions: Pick<SessionRegistry, "tokenIds" | "revoke">;
  /** The poll while the store cannot report other processes' changes (RELAY_RECHECK_MS). */
  intervalMs: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** Another process changed something (after the first check): refresh what is cached from the store. */
  onChanged?: () => Promise<void>;
}

/** Checks once at once, then on every reported change and by the poll (one check at a time); returns the stop. */
export function startRecheck(options: RecheckOptions): () => void {
  const { store, sessions, log } = options;
  let lastVersion: number | null = null;
  let running: Promise<void> | null = null;
  /** A check asked for while one ran: its origin ("local" wins: the tokens are then looked at whatever). */
  let queued: ChangeOrigin | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;

  const checkOnce = async (origin: ChangeOrigin) => {
    try {
      const version = await store.externalChanges();
      const changed = version !== lastVersion;
      // Before the version is taken as seen: a refresh that failed is tried again on the next check.
      if (changed && lastVersion !== null) await options.onChanged?.();
      lastVersion = version;
      // This process's own changes leave the version as it was (SQLite counts other connections' commits).
      if (!changed && origin === "external") return;
      const open = sessions.tokenIds();
      if (open.length === 0) return;
      for (const tokenId of await store.inactiveTokens(open)) sessions.revoke(tokenId);
    } catch (error) {
      // An unreachable store is reported once by its connection; the next check tries again.
      if (!(error instanceof StoreUnavailableError))
        log("error", `checking for changes by other processes failed: ${String(error)}`);
    }
  };

  const check = (origin: ChangeOrigin) => {
    if (stopped) return;
    if (running !== null) {
      queued = queued === "local" ? "local" : origin;
      return;
    }
    running = checkOnce(origin).finally(() => {
      running = null;
      const next = queued;
      queued = null;
      if (next !== null) check(next);
    });
  };

  const watch = store.watchChanges(check);
  const schedulePoll = () => {
    if (stopped) return;
    const interval = watch.reliable()
      ? Math.max(SAFETY_NET_RECHECK_MS, options.intervalMs)
      : options.intervalMs;
    timer = setTimeout(() => {
      check("external");
      schedulePoll();
    }, interval);
    timer.unref();
  };
  check("external");
  schedulePoll();
  return () => {
    stopped = true;
    watch.stop();
    if (timer !== null) clearTimeout(timer);
  };
}
