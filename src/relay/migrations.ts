/**
 * The relay schema, as ordered migrations. `PRAGMA user_version` holds how many have been applied; each runs
 * in its own write transaction that re-reads the version first, so a server and a CLI starting together
 * never apply one twice. Append new migrations; never edit one that has shipped.
 */
import type { Database } from "bun:sqlite";

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE buckets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
  );
  CREATE TABLE inputs (
    id TEXT PRIMARY KEY,
    bucket_id TEXT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    response_headers TEXT NOT NULL,
    github_secret TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX inputs_by_bucket ON inputs(bucket_id);
  CREATE TABLE tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    secret_hash BLOB NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    admin INTEGER NOT NULL DEFAULT 0,
    all_buckets INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  CREATE TABLE token_buckets (
    token_id INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    bucket_id TEXT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, bucket_id)
  ) WITHOUT ROWID;
  -- No foreign keys here on purpose: a delivery queued for a bucket deleted a moment earlier must not fail the
  -- whole group-commit transaction. deleteBucket removes a bucket's deliveries itself; retention removes the rest.
  -- AUTOINCREMENT: ids are never reused, so an id stays a valid resume cursor after deletions.
  CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket_id TEXT NOT NULL,
    input_id TEXT NOT NULL,
    github_delivery TEXT,
    method TEXT NOT NULL,
    headers TEXT NOT NULL,
    query TEXT NOT NULL,
    body BLOB NOT NULL,
    source_address TEXT NOT NULL,
    received_at INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX deliveries_github_delivery
    ON deliveries(bucket_id, github_delivery) WHERE github_delivery IS NOT NULL;
  CREATE INDEX deliveries_by_bucket ON deliveries(bucket_id, id);
  CREATE INDEX deliveries_by_time ON deliveries(received_at);
  `,
  `
  -- The cursor epoch: random per database, so a cursor from another database is recognised as unknown.
  CREATE TABLE relay_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO relay_meta (key, value) VALUES ('epoch', lower(hex(randomblob(4))));
  -- Per bucket, the highest delivery id deleted by retention. Retention deletes in store order, so every
  -- delivery of the bucket up to it is gone and every later one is kept: a reader after id c missed
  -- something exactly when c < pruned_through.
  CREATE TABLE retention_floor (
    bucket_id TEXT PRIMARY KEY,
    pruned_through INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- A delivery re-sent by an admin is stored again as a copy; this names the delivery it copies.
  ALTER TABLE deliveries ADD COLUMN replay_of TEXT;
  `,
  `
  -- An input may answer its sender with the forwarding agent's response (0: never).
  ALTER TABLE inputs ADD COLUMN passthrough INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE inputs ADD COLUMN passthrough_timeout_ms INTEGER NOT NULL DEFAULT 10000;
  -- A bucket's named destinations, delivered by hookstream itself or by an agent.
  CREATE TABLE outputs (
    id TEXT PRIMARY KEY,
    bucket_id TEXT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    destination TEXT NOT NULL,
    delivered_by TEXT NOT NULL CHECK (delivered_by IN ('hookstream', 'agent')),
    created_at INTEGER NOT NULL,
    UNIQUE (bucket_id, name)
  );
  -- One row per delivery and output hookstream delivers, inserted with the delivery in one transaction.
  -- Like deliveries, no foreign keys: the trigger below removes a delivery's attempts with it.
  CREATE TABLE output_attempts (
    delivery_id INTEGER NOT NULL,
    output_id TEXT NOT NULL,
    output_name TEXT NOT NULL,
    destination TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at INTEGER,
    status INTEGER,
    error TEXT,
    response_body TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, output_id)
  ) WITHOUT ROWID;
  CREATE INDEX output_attempts_due ON output_attempts(next_at) WHERE state = 'pending';
  CREATE TRIGGER output_attempts_follow_deliveries AFTER DELETE ON deliveries
  BEGIN
    DELETE FROM output_attempts WHERE delivery_id = old.id;
  END;
  `,
];

export function schemaVersion(db: Database): number {
  const row = db.query<{ user_version: number }, []>("PRAGMA user_version").get();
  return row?.user_version ?? 0;
}

/** Applies every pending migration; returns the resulting version. Refuses a database newer than this code. */
export function migrate(db: Database, migrations: readonly string[] = MIGRATIONS): number {
  for (;;) {
    const applied = db
      .transaction(() => {
        const version = schemaVersion(db);
        if (version > migrations.length) {
          throw new Error(
            `database schema version ${version} is newer than this hookstream (${migrations.length}); upgrade hookstream`,
          );
        }
        const next = migrations[version];
        if (next === undefined) return false;
        db.run(next);
        // PRAGMA takes no bound parameters; the value is an integer we computed.
        db.run(`PRAGMA user_version = ${version + 1}`);
        return true;
      })
      .immediate();
    if (!applied) return schemaVersion(db);
  }
}
