/**
 * The SQLite relay store (`bun:sqlite`, WAL). One connection per process; the server and the CLI share the
 * file, and WAL lets the CLI write while the server reads and writes.
 *
 * Durability ("full", the default): every write resolves only once the WAL is on disk. A webhook sender is
 * answered 2xx only after its delivery committed and GitHub does not retry, so a commit must survive power
 * loss, not only a crash of the process (which `synchronous=NORMAL` in WAL mode already survives).
 * `synchronous=FULL` would give that by fsyncing inside COMMIT, but bun:sqlite is synchronous: the whole event
 * loop would stop for every fsync, a third of the time under load. So the connection runs NORMAL (commits
 * write the WAL without syncing; consistency is the same) and the store fsyncs the WAL file itself on the
 * thread pool after each commit, resolving the write only then. Concurrent commits share one fsync: a commit
 * waits for an fsync that started after it. With group commit (writer.ts) that is one fsync per batch.
 * "normal" skips the explicit fsync: faster, and a power cut may lose the last commits.
 *
 * GitHub secrets are stored as given, not hashed: HMAC verification needs the key itself. Encrypting it with a
 * key kept beside the database would add nothing; instead the database file is created readable by its owner
 * only (WAL and shared-memory files inherit that mode), and secrets never leave the store through listings.
 */
import { Database } from "bun:sqlite";
import { closeSync, mkdirSync, openSync, realpathSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dirname } from "node:path";
import { epochCursors } from "./cursor.ts";
import { migrate } from "./migrations.ts";
import { openSqliteOutputs } from "./sqlite-outputs.ts";
import {
  type AppendResult,
  type Bucket,
  type BucketWithInputs,
  DEFAULT_INPUT_NAME,
  DEFAULT_INPUT_RESPONSE,
  DEFAULT_PASSTHROUGH_TIMEOUT_MS,
  type Input,
  type InputResponse,
  type InputRoute,
  NameTakenError,
  type NewDelivery,
  type NewToken,
  type RelayStore,
  type ReplayedDelivery,
  type RetentionPolicy,
  StorageFullError,
  type Token,
} from "./store.ts";

/** Input routes held in memory; past it the cache starts over (it refills from hits). */
const MAX_CACHED_ROUTES = 10_000;

export type Durability = "full" | "normal";

export interface SqliteStoreOptions {
  durability?: Durability;
  /** How long a write waits for another process's write lock before failing. */
  busyTimeoutMs?: number;
  /**
   * Caps the database file at about this size (SQLite's `max_page_count`); 0 or absent: no cap. Past it,
   * appending deliveries fails with StorageFullError as on a full disk, until retention frees pages.
   */
  maxBytes?: number;
}

interface BucketRow {
  id: string;
  name: string;
  description: string;
  created_at: number;
}

interface InputRow {
  id: string;
  bucket_id: string;
  name: string;
  response_status: number;
  response_body: string;
  response_headers: string;
  github_secret: string | null;
  passthrough: number;
  passthrough_timeout_ms: number;
  created_at: number;
}

interface TokenRow {
  id: number;
  key: string;
  secret_hash: Uint8Array;
  description: string;
  admin: number;
  all_buckets: number;
  created_at: number;
  revoked_at: number | null;
}

interface DeliveryRow {
  id: number;
  bucket_id: string;
  input_id: string;
  github_delivery: string | null;
  method: string;
  headers: string;
  query: string;
  body: Uint8Array;
  source_address: string;
  received_at: number;
  replay_of: string | null;
}

interface ReplayRow extends DeliveryRow {
  bucket_name: string;
  input_name: string;
}

const toDelivery = (row: DeliveryRow) => ({
  id: String(row.id),
  bucketId: row.bucket_id,
  inputId: row.input_id,
  githubDelivery: row.github_delivery,
  method: row.method,
  headers: JSON.parse(row.headers) as Record<string, string[]>,
  query: row.query,
  body: row.body,
  sourceAddress: row.source_address,
  receivedAt: row.received_at,
  ...(row.replay_of === null ? {} : { replayOf: row.replay_of }),
});

/** SQLite's "database or disk is full": the disk, or the `max_page_count` cap. */
const isStorageFull = (error: unknown) =>
  error instanceof Error && (error as Error & { code?: unknown }).code === "SQLITE_FULL";

const toBucket = (row: BucketRow): Bucket => ({
  id: row.id,
  name: row.name,
  description: row.description,
  createdAt: row.created_at,
});

const toInput = (row: InputRow): Input => ({
  id: row.id,
  bucketId: row.bucket_id,
  name: row.name,
  response: {
    status: row.response_status,
    body: row.response_body,
    headers: JSON.parse(row.response_headers) as Record<string, string>,
  },
  hasSecret: row.github_secret !== null,
  passthrough: row.passthrough === 1,
  passthroughTimeoutMs: row.passthrough_timeout_ms,
  createdAt: row.created_at,
});

/** Creates the file owner-only before SQLite opens it; an existing file keeps its mode. */
function createPrivateFile(path: string): void {
  if (path === ":memory:") return;
  mkdirSync(dirname(path), { recursive: true });
  closeSync(openSync(path, "a", 0o600));
}

/**
 * Returns `durable()`: resolves once an fsync of the WAL file that started after the call has finished. Calls
 * made while an fsync runs share the next one.
 */
function walSyncer(walPath: string): { durable: () => Promise<void>; close: () => Promise<void> } {
  let file: Promise<FileHandle> | null = null;
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const start = (): Promise<void> => {
    // The WAL file exists once anything was committed, and lives as long as this connection.
    file ??= open(walPath, "r");
    const sync = file.then((handle) => handle.datasync());
    running = sync.finally(() => {
      if (running === sync) running = null;
    });
    return sync;
  };
  const durable = () => {
    if (running === null) return start();
    next ??= running.then(
      () => {
        next = null;
        return start();
      },
      () => {
        next = null;
        return start();
      },
    );
    return next;
  };
  const close = async () => {
    // A failed fsync was already reported to the write that waited for it.
    await running?.catch(() => undefined);
    await (await file)?.close();
  };
  return { durable, close };
}

export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): RelayStore {
  createPrivateFile(path);
  const db = new Database(path, { create: true, strict: true });
  try {
    db.run("PRAGMA journal_mode = WAL");
    db.run("PRAGMA synchronous = NORMAL");
    db.run(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.run("PRAGMA foreign_keys = ON");
    migrate(db);
  } catch (error) {
    db.close();
    // SQLite's messages ("file is not a database") do not say which file.
    throw new Error(`the relay database ${path} cannot be opened: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (options.maxBytes !== undefined && options.maxBytes > 0) {
    const pageSize = db.query<{ page_size: number }, []>("PRAGMA page_size").get()?.page_size ?? 4096;
    // PRAGMA takes no bound parameters; the value is an integer we computed.
    db.run(`PRAGMA max_page_count = ${Math.max(1, Math.ceil(options.maxBytes / pageSize))}`);
  }

  const wal =
    options.durability === "normal" || path === ":memory:"
      ? { durable: async () => {}, close: async () => {} }
      : // SQLite follows a symlinked database file and keeps its WAL beside the target.
        walSyncer(`${realpathSync(path)}-wal`);
  /** Resolves to `value` once the commit that produced it is durable. */
  const committed = async <T>(value: T): Promise<T> => {
    await wal.durable();
    return value;
  };

  const q = {
    bucketById: db.query<BucketRow, [string]>("SELECT * FROM buckets WHERE id = ?"),
    bucketByName: db.query<BucketRow, [string]>("SELECT * FROM buckets WHERE name = ?"),
    buckets: db.query<BucketRow, []>("SELECT * FROM buckets ORDER BY name"),
    insertBucket: db.query<null, [string, string, string, number]>(
      "INSERT INTO buckets (id, name, description, created_at) VALUES (?, ?, ?, ?)",
    ),
    deleteBucket: db.query<null, [string]>("DELETE FROM buckets WHERE id = ?"),
    deleteBucketDeliveries: db.query<null, [string]>("DELETE FROM deliveries WHERE bucket_id = ?"),
    inputsOf: db.query<InputRow, [string]>(
      "SELECT * FROM inputs WHERE bucket_id = ? ORDER BY created_at, id",
    ),
    inputs: db.query<InputRow, []>("SELECT * FROM inputs ORDER BY created_at, id"),
    inputById: db.query<InputRow, [string]>("SELECT * FROM inputs WHERE id = ?"),
    insertInput: db.query<null, [string, string, string, number, string, string, number]>(
      `INSERT INTO inputs (id, bucket_id, name, response_status, response_body, response_headers, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    updateInput: db.query<null, [string, number, string, string, number, number, string]>(
      `UPDATE inputs SET name = ?, response_status = ?, response_body = ?, response_headers = ?,
         passthrough = ?, passthrough_timeout_ms = ? WHERE id = ?`,
    ),
    updateSecret: db.query<null, [string | null, string]>("UPDATE inputs SET github_secret = ? WHERE id = ?"),
    insertToken: db.query<
      { id: number; created_at: number },
      [string, Uint8Array, string, number, number, number]
    >(
      `INSERT INTO tokens (key, secret_hash, description, admin, all_buckets, created_at)
       VALUES (?, ?, ?, ?, ?, ?) RETURNING id, created_at`,
    ),
    insertTokenBucket: db.query<null, [number, string]>(
      "INSERT OR IGNORE INTO token_buckets (token_id, bucket_id) VALUES (?, ?)",
    ),
    tokens: db.query<TokenRow, []>("SELECT * FROM tokens ORDER BY id"),
    tokenByKey: db.query<TokenRow, [string]>("SELECT * FROM tokens WHERE key = ?"),
    tokenBuckets: db.query<{ bucket_id: string }, [number]>(
      "SELECT bucket_id FROM token_buckets WHERE token_id = ? ORDER BY bucket_id",
    ),
    allTokenBuckets: db.query<{ token_id: number; bucket_id: string }, []>(
      "SELECT token_id, bucket_id FROM token_buckets ORDER BY bucket_id",
    ),
    activeTokenIds: db.query<{ id: number }, []>("SELECT id FROM tokens WHERE revoked_at IS NULL"),
    revokeToken: db.query<null, [number, string]>(
      "UPDATE tokens SET revoked_at = ? WHERE key = ? AND revoked_at IS NULL",
    ),
    countAdmins: db.query<{ n: number }, []>(
      "SELECT count(*) AS n FROM tokens WHERE admin = 1 AND revoked_at IS NULL",
    ),
    // ON CONFLICT DO NOTHING: the partial unique index on (bucket_id, github_delivery) turns a redelivery into
    // zero changes instead of an error, inside the same transaction as its batch.
    insertDelivery: db.query<
      null,
      [string, string, string | null, string, string, string, Uint8Array, string, number, string | null]
    >(
      `INSERT INTO deliveries
         (bucket_id, input_id, github_delivery, method, headers, query, body, source_address, received_at,
          replay_of)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    recentDeliveries: db.query<DeliveryRow, [string, number]>(
      "SELECT * FROM deliveries WHERE bucket_id = ? ORDER BY id DESC LIMIT ?",
    ),
    // deliveries_github_delivery (bucket_id, github_delivery) answers it.
    byGithubId: db.query<DeliveryRow, [string, string]>(
      "SELECT * FROM deliveries WHERE bucket_id = ? AND github_delivery = ?",
    ),
    deliveriesAfter: db.query<DeliveryRow, [string, number, number]>(
      "SELECT * FROM deliveries WHERE bucket_id = ? AND id > ? ORDER BY id LIMIT ?",
    ),
    // Index-only (deliveries_by_bucket holds the id): no body is touched to find a page.
    bucketIdsInRange: db.query<{ id: number }, [string, number, number, number]>(
      "SELECT id FROM deliveries WHERE bucket_id = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?",
    ),
    idsInRange: db.query<{ id: number }, [number, number, number]>(
      "SELECT id FROM deliveries WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
    ),
    replayRow: db.query<ReplayRow, [number]>(
      `SELECT d.*, coalesce(b.name, '') AS bucket_name, coalesce(i.name, '') AS input_name
         FROM deliveries d LEFT JOIN buckets b ON b.id = d.bucket_id LEFT JOIN inputs i ON i.id = d.input_id
        WHERE d.id = ?`,
    ),
    bucketFloor: db.query<{ pruned_through: number }, [string]>(
      "SELECT pruned_through FROM retention_floor WHERE bucket_id = ?",
    ),
    highestFloor: db.query<{ pruned_through: number | null }, []>(
      "SELECT max(pruned_through) AS pruned_through FROM retention_floor",
    ),
    epoch: db.query<{ value: string }, []>("SELECT value FROM relay_meta WHERE key = 'epoch'"),
    lastId: db.query<{ seq: number }, []>("SELECT seq FROM sqlite_sequence WHERE name = 'deliveries'"),
    // Retention deletes a prefix of the store order: everything up to a cut-off id. By age, the cut-off is
    // the newest delivery received before the limit (ids follow reception within milliseconds); by count,
    // the newest delivery beyond the ones kept.
    cutByAge: db.query<{ id: number | null }, [number]>(
      "SELECT max(id) AS id FROM deliveries WHERE received_at < ?",
    ),
    cutByCount: db.query<{ id: number }, [number]>(
      "SELECT id FROM deliveries ORDER BY id DESC LIMIT 1 OFFSET ?",
    ),
    doomedFloors: db.query<{ bucket_id: string; id: number }, [number, number]>(
      `SELECT bucket_id, max(id) AS id
         FROM (SELECT id, bucket_id FROM deliveries WHERE id <= ? ORDER BY id LIMIT ?)
        GROUP BY bucket_id`,
    ),
    prune: db.query<null, [number, number]>(
      "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE id <= ? ORDER BY id LIMIT ?)",
    ),
    raiseFloor: db.query<null, [string, number]>(
      `INSERT INTO retention_floor (bucket_id, pruned_through) VALUES (?, ?)
       ON CONFLICT (bucket_id) DO UPDATE SET pruned_through = max(pruned_through, excluded.pruned_through)`,
    ),
    deleteFloor: db.query<null, [string]>("DELETE FROM retention_floor WHERE bucket_id = ?"),
    dataVersion: db.query<{ data_version: number }, []>("PRAGMA data_version"),
    deliveryById: db.query<DeliveryRow, [number]>("SELECT * FROM deliveries WHERE id = ?"),
  };

  const outputs = openSqliteOutputs(db, committed, (id) => {
    const row = q.deliveryById.get(id);
    return row === null ? null : toDelivery(row);
  });

  /**
   * Input routes by input id: a read per webhook costs more than the rest of the request together, and inputs
   * rarely change. Cleared by this store's own writes and whenever externalChanges() sees another process's
   * commit.
   */
  const routes = new Map<string, InputRoute>();
  let seenVersion = q.dataVersion.get()?.data_version ?? 0;

  const inputsByBucket = (bucketId: string) => q.inputsOf.all(bucketId).map(toInput);
  const withInputs = (row: BucketRow): BucketWithInputs => ({
    ...toBucket(row),
    inputs: inputsByBucket(row.id),
    outputs: outputs.outputsOf(row.id),
  });

  const toToken = (row: TokenRow, bucketIds: string[] | null): Token => ({
    id: row.id,
    key: row.key,
    description: row.description,
    admin: row.admin === 1,
    bucketIds,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  });

  const insertInput = (bucketId: string, name: string, response: InputResponse, now: number): Input => {
    const id = crypto.randomUUID();
    q.insertInput.run(
      id,
      bucketId,
      name,
      response.status,
      response.body,
      JSON.stringify(response.headers),
      now,
    );
    return {
      id,
      bucketId,
      name,
      response,
      hasSecret: false,
      passthrough: false,
      passthroughTimeoutMs: DEFAULT_PASSTHROUGH_TIMEOUT_MS,
      createdAt: now,
    };
  };

  const createBucket = db.transaction((name: string, description: string): BucketWithInputs => {
    if (q.bucketByName.get(name) !== null) throw new NameTakenError(name);
    const now = Date.now();
    const bucket: Bucket = { id: crypto.randomUUID(), name, description, createdAt: now };
    q.insertBucket.run(bucket.id, name, description, now);
    return {
      ...bucket,
      inputs: [insertInput(bucket.id, DEFAULT_INPUT_NAME, DEFAULT_INPUT_RESPONSE, now)],
      outputs: [],
    };
  });

  const deleteBucket = db.transaction((id: string): boolean => {
    q.deleteBucketDeliveries.run(id);
    q.deleteFloor.run(id);
    return q.deleteBucket.run(id).changes > 0;
  });

  const createToken = db.transaction((token: NewToken): Token => {
    const now = Date.now();
    const row = q.insertToken.get(
      token.key,
      token.secretHash,
      token.description,
      token.admin ? 1 : 0,
      token.bucketIds === null ? 1 : 0,
      now,
    );
    if (row === null) throw new Error("token insert returned no row");
    for (const bucketId of token.bucketIds ?? []) q.insertTokenBucket.run(row.id, bucketId);
    return {
      id: row.id,
      key: token.key,
      description: token.description,
      admin: token.admin,
      bucketIds: token.bucketIds === null ? null : [...new Set(token.bucketIds)].sort(),
      createdAt: row.created_at,
      revokedAt: null,
    };
  });

  const appendDeliveries = db.transaction((batch: readonly NewDelivery[]): AppendResult[] =>
    batch.map((d) => {
      const result = q.insertDelivery.run(
        d.bucketId,
        d.inputId,
        d.githubDelivery,
        d.method,
        JSON.stringify(d.headers),
        d.query,
        d.body,
        d.sourceAddress,
        d.receivedAt,
        d.replayOf ?? null,
      );
      if (result.changes === 0) return { id: null, duplicate: true };
      const id = Number(result.lastInsertRowid);
      outputs.addAttempts(id, d.bucketId, d.receivedAt);
      return { id: String(id), duplicate: false };
    }),
  );

  /** Ids of the next deliveries of these buckets in the range, in store order (a merge of per-bucket scans). */
  const idsInRange = (read: Parameters<RelayStore["readDeliveries"]>[0]): number[] => {
    if (read.bucketIds === null)
      return q.idsInRange.all(read.afterPosition, read.throughPosition, read.maxRows).map((row) => row.id);
    const ids: number[] = [];
    for (const bucketId of new Set(read.bucketIds))
      for (const row of q.bucketIdsInRange.all(
        bucketId,
        read.afterPosition,
        read.throughPosition,
        read.maxRows,
      ))
        ids.push(row.id);
    return ids.sort((a, b) => a - b).slice(0, read.maxRows);
  };

  const floorOf = (bucketIds: readonly string[] | null): number => {
    if (bucketIds === null) return q.highestFloor.get()?.pruned_through ?? 0;
    let floor = 0;
    for (const bucketId of bucketIds)
      floor = Math.max(floor, q.bucketFloor.get(bucketId)?.pruned_through ?? 0);
    return floor;
  };

  // One read transaction: the page and the retention floor come from the same snapshot.
  const readDeliveries = db.transaction((read: Parameters<RelayStore["readDeliveries"]>[0]) => {
    const deliveries: ReplayedDelivery[] = [];
    let bytes = 0;
    for (const id of idsInRange(read)) {
      const row = q.replayRow.get(id);
      if (row === null) continue;
      deliveries.push({ ...toDelivery(row), bucketName: row.bucket_name, inputName: row.input_name });
      bytes += row.body.byteLength;
      if (bytes >= read.maxBytes) break;
    }
    return { deliveries, prunedThrough: floorOf(read.bucketIds) };
  });

  const pruneDeliveries = db.transaction((policy: RetentionPolicy, limit: number): number => {
    let cut = 0;
    if (policy.receivedBefore !== null) cut = q.cutByAge.get(policy.receivedBefore)?.id ?? 0;
    if (policy.keepNewest !== null) cut = Math.max(cut, q.cutByCount.get(policy.keepNewest)?.id ?? 0);
    if (cut === 0) return 0;
    const floors = q.doomedFloors.all(cut, limit);
    // Deleting first frees pages, so recording the floors works even when the database is full.
    const deleted = q.prune.run(cut, limit).changes;
    for (const floor of floors) q.raiseFloor.run(floor.bucket_id, floor.id);
    return deleted;
  });

  const findBucket = (idOrName: string): BucketWithInputs | null => {
    const row = q.bucketById.get(idOrName) ?? q.bucketByName.get(idOrName);
    return row === null ? null : withInputs(row);
  };

  return {
    async createBucket(name, description = "") {
      return committed(createBucket.immediate(name, description));
    },
    async listBuckets() {
      const inputs = Map.groupBy(q.inputs.all().map(toInput), (input) => input.bucketId);
      const byBucket = Map.groupBy(outputs.allOutputs(), (output) => output.bucketId);
      return q.buckets.all().map((row) => ({
        ...toBucket(row),
        inputs: inputs.get(row.id) ?? [],
        outputs: byBucket.get(row.id) ?? [],
      }));
    },
    async findBucket(idOrName) {
      return findBucket(idOrName);
    },
    async deleteBucket(id) {
      routes.clear();
      return committed(deleteBucket.immediate(id));
    },
    async addInput(bucketId, name) {
      if (q.bucketById.get(bucketId) === null) return null;
      return committed(insertInput(bucketId, name, DEFAULT_INPUT_RESPONSE, Date.now()));
    },
    async updateInput(inputId, patch) {
      routes.clear();
      const input = db
        .transaction(() => {
          const row = q.inputById.get(inputId);
          if (row === null) return null;
          const current = toInput(row);
          const name = patch.name ?? current.name;
          const response = patch.response ?? current.response;
          const passthrough = patch.passthrough ?? current.passthrough;
          const passthroughTimeoutMs = patch.passthroughTimeoutMs ?? current.passthroughTimeoutMs;
          q.updateInput.run(
            name,
            response.status,
            response.body,
            JSON.stringify(response.headers),
            passthrough ? 1 : 0,
            passthroughTimeoutMs,
            inputId,
          );
          if (patch.githubSecret !== undefined) q.updateSecret.run(patch.githubSecret, inputId);
          const hasSecret =
            patch.githubSecret === undefined ? current.hasSecret : patch.githubSecret !== null;
          return { ...current, name, response, hasSecret, passthrough, passthroughTimeoutMs };
        })
        .immediate();
      return committed(input);
    },
    async resolveInput(inputId) {
      const cached = routes.get(inputId);
      if (cached !== undefined) return cached;
      const row = q.inputById.get(inputId);
      if (row === null) return null;
      const bucket = q.bucketById.get(row.bucket_id);
      if (bucket === null) return null;
      const route = { input: toInput(row), bucket: toBucket(bucket), githubSecret: row.github_secret };
      // Unknown ids are not cached, so probing random ids cannot evict the real ones.
      if (routes.size >= MAX_CACHED_ROUTES) routes.clear();
      routes.set(inputId, route);
      return route;
    },

    async createToken(token) {
      return committed(createToken.immediate(token));
    },
    async listTokens() {
      const buckets = Map.groupBy(q.allTokenBuckets.all(), (row) => row.token_id);
      return q.tokens
        .all()
        .map((row) =>
          toToken(row, row.all_buckets === 1 ? null : (buckets.get(row.id) ?? []).map((b) => b.bucket_id)),
        );
    },
    async findToken(key) {
      const row = q.tokenByKey.get(key);
      if (row === null) return null;
      const bucketIds = row.all_buckets === 1 ? null : q.tokenBuckets.all(row.id).map((b) => b.bucket_id);
      return { token: toToken(row, bucketIds), secretHash: row.secret_hash };
    },
    async revokeToken(key) {
      return committed(q.revokeToken.run(Date.now(), key).changes > 0);
    },
    async inactiveTokens(ids) {
      if (ids.length === 0) return [];
      const active = new Set(q.activeTokenIds.all().map((row) => row.id));
      return ids.filter((id) => !active.has(id));
    },
    async countAdminTokens() {
      return q.countAdmins.get()?.n ?? 0;
    },

    async appendDeliveries(batch) {
      if (batch.length === 0) return [];
      let results: AppendResult[];
      try {
        results = appendDeliveries.immediate(batch);
      } catch (error) {
        // The transaction was rolled back: nothing of the batch is stored.
        if (isStorageFull(error)) throw new StorageFullError();
        throw error;
      }
      return committed(results);
    },
    async recentDeliveries(bucketId, limit) {
      return q.recentDeliveries.all(bucketId, limit).map(toDelivery);
    },
    async deliveryByGithubId(bucketId, githubDelivery) {
      const row = q.byGithubId.get(bucketId, githubDelivery);
      return row === null ? null : toDelivery(row);
    },
    async listDeliveries(bucketId, afterId, limit) {
      return q.deliveriesAfter.all(bucketId, afterId === null ? 0 : Number(afterId), limit).map(toDelivery);
    },
    async readDeliveries(read) {
      return readDeliveries.deferred(read);
    },
    async deliveryPosition() {
      const epoch = q.epoch.get()?.value;
      if (epoch === undefined) throw new Error("the database has no cursor epoch");
      return { cursors: epochCursors(epoch), lastPosition: q.lastId.get()?.seq ?? 0 };
    },
    async pruneDeliveries(policy, limit) {
      return pruneDeliveries.immediate(policy, limit);
    },

    createOutput: outputs.createOutput,
    deleteOutput: outputs.deleteOutput,
    claimOutputAttempts: outputs.claimOutputAttempts,
    recordOutputAttempt: outputs.recordOutputAttempt,
    outputAttempts: outputs.outputAttempts,

    async externalChanges() {
      const version = q.dataVersion.get()?.data_version ?? 0;
      if (version !== seenVersion) routes.clear();
      seenVersion = version;
      return version;
    },
    async close() {
      await wal.close();
      db.close();
    },
  };
}
