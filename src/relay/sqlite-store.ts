/**
 * The SQLite relay store (`bun:sqlite`, WAL): one database, composed of buckets and inputs
 * (sqlite-buckets.ts), tokens (sqlite-tokens.ts), deliveries (sqlite-deliveries.ts) and outputs
 * (sqlite-outputs.ts). How the file is opened and when a write counts as durable: sqlite-durability.ts.
 */
import { openSqliteBuckets } from "./sqlite-buckets.ts";
import { startCheckpointer } from "./sqlite-checkpoint.ts";
import { openSqliteDeliveries } from "./sqlite-deliveries.ts";
import {
  type Committed,
  openRelayDatabase,
  type SqliteStoreOptions,
  walCommits,
} from "./sqlite-durability.ts";
import { openSqliteOutputs } from "./sqlite-outputs.ts";
import { openSqliteTokens } from "./sqlite-tokens.ts";
import type { RelayStore } from "./store.ts";
import { createChangeListeners, type FileWatch, watchDatabaseFile } from "./store-changes.ts";

export type { Durability, SqliteStoreOptions } from "./sqlite-durability.ts";

/** SQLite's page size here: what a write adds to the WAL at least. */
const PAGE_BYTES = 4096;

export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): RelayStore {
  const db = openRelayDatabase(path, options);
  const wal = walCommits(path, options.durability);
  // A failed checkpoint thread is worth a line even without a log; a file that cannot be watched is not.
  const warn = options.log ?? ((_level, text) => console.warn(text));
  const checkpoints = startCheckpointer({ db, path, log: (message) => warn("warn", message) });
  // Every write counts as at least a page toward the next checkpoint; deliveries add their bodies.
  const committed: Committed = (value) => {
    checkpoints.wrote(PAGE_BYTES);
    return wal.committed(value);
  };

  // Attempts are added inside the transaction that appends their delivery; outputs read deliveries back.
  const { deliveryById, ...deliveries } = openSqliteDeliveries(db, committed, (id, delivery) => {
    checkpoints.wrote(delivery.body.byteLength);
    outputs.addAttempts(id, delivery.bucketId, delivery.receivedAt);
  });
  const outputs = openSqliteOutputs(db, committed, deliveryById);
  const { forgetRoutes, ...buckets } = openSqliteBuckets(db, committed, outputs);

  const dataVersion = db.query<{ data_version: number }, []>("PRAGMA data_version");
  let seenVersion = dataVersion.get()?.data_version ?? 0;
  const tokens = openSqliteTokens(db, committed);
  const changes = createChangeListeners();
  // Watched only once someone listens (the server; the CLI never does).
  let file: FileWatch | null = null;

  return {
    ...buckets,
    ...tokens,
    async revokeToken(key) {
      const revoked = await tokens.revokeToken(key);
      if (revoked) changes.notify("local");
      return revoked;
    },
    async deleteBucket(id) {
      const deleted = await buckets.deleteBucket(id);
      if (deleted) changes.notify("local");
      return deleted;
    },
    ...deliveries,
    createOutput: outputs.createOutput,
    deleteOutput: outputs.deleteOutput,
    claimOutputAttempts: outputs.claimOutputAttempts,
    recordOutputAttempt: outputs.recordOutputAttempt,
    outputAttempts: outputs.outputAttempts,
    nextOutputAttemptAt: outputs.nextOutputAttemptAt,

    async externalChanges() {
      const version = dataVersion.get()?.data_version ?? 0;
      if (version !== seenVersion) forgetRoutes();
      seenVersion = version;
      return version;
    },
    watchChanges(listener) {
      if (file === null && path !== ":memory:")
        file = watchDatabaseFile(path, () => changes.notify("external"), options.log ?? (() => {}));
      return changes.watch(listener, () => file?.reliable() ?? false);
    },
    async close() {
      await checkpoints.close();
      file?.close();
      await wal.close();
      db.close();
    },
  };
}
