/**
 * The embedded backend: the relay's SQLite database and the log journal in DATA_DIR, nothing outside the
 * process. Live deliveries are this process's own commits.
 *
 * Both backends load their log side only when a server opens it: a command opens the backend for its store
 * alone, and loading the log side with it doubled a command's start (0.35 s to 0.7 s, measured).
 */
import type { Config } from "../process/config.ts";
import { createCommitSource } from "../relay/delivery-source.ts";
import { openSqliteStore } from "../relay/sqlite-store.ts";
import type { Backend, BackendLog } from "./seam.ts";

export function openEmbeddedBackend(config: Config, log: BackendLog): Backend {
  const store = openSqliteStore(config.relay.databasePath, {
    durability: config.relay.durability,
    maxBytes: config.relay.maxDatabaseBytes,
    log,
  });
  return {
    store,
    deliveries: createCommitSource(),
    cursorAheadWaitMs: 0,
    async openLogs(publish) {
      const { createLogPipeline } = await import("../logs/pipeline.ts");
      return createLogPipeline(config, publish, log);
    },
    health: {},
    close: () => store.close(),
  };
}
