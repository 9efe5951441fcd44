/**
 * Picking up what another process (the CLI, another instance) changed in the store: each tick asks the store
 * whether anything changed, and if so closes the open sessions whose token is no longer active. Asking also
 * makes those changes visible to the store's cached input routes (see `externalChanges`).
 */

import { StoreUnavailableError } from "../transport/errors.ts";
import type { SessionRegistry } from "./sessions.ts";
import type { RelayStore } from "./store.ts";

export interface RecheckOptions {
  store: Pick<RelayStore, "externalChanges" | "inactiveTokens">;
  sessions: Pick<SessionRegistry, "tokenIds" | "revoke">;
  intervalMs: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** Another process changed something (after the first check): refresh what is cached from the store. */
  onChanged?: () => Promise<void>;
}

/** Checks once at once, then every `intervalMs` (one check at a time); returns the stop. */
export function startRecheck(options: RecheckOptions): () => void {
  const { store, sessions, log } = options;
  let lastVersion: number | null = null;
  let rechecking = false;

  const recheck = async () => {
    if (rechecking) return;
    rechecking = true;
    try {
      const version = await store.externalChanges();
      if (version === lastVersion) return;
      // Before the version is taken as seen: a refresh that failed is tried again on the next tick.
      if (lastVersion !== null) await options.onChanged?.();
      lastVersion = version;
      const open = sessions.tokenIds();
      if (open.length === 0) return;
      for (const tokenId of await store.inactiveTokens(open)) sessions.revoke(tokenId);
    } catch (error) {
      // An unreachable store is reported once by its connection; the next tick tries again.
      if (!(error instanceof StoreUnavailableError))
        log("error", `checking for changes by other processes failed: ${String(error)}`);
    } finally {
      rechecking = false;
    }
  };
  void recheck();
  const timer = setInterval(() => void recheck(), options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
