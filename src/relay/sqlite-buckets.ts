/**
 * Buckets and their inputs in the SQLite relay store, and the cache of input routes the webhook endpoint reads.
 *
 * GitHub secrets are stored as given, not hashed: HMAC verification needs the key itself. Encrypting it with a
 * key kept beside the database would add nothing; instead the database file is created readable by its owner
 * only (sqlite-durability.ts), and secrets never leave the store through listings.
 */
import type { Database } from "bun:sqlite";
import { createRouteCache } from "./route-cache.ts";
import type { Committed } from "./sqlite-durability.ts";
import type { SqliteOutputs } from "./sqlite-outputs.ts";
import {
  type Bucket,
  type BucketStore,
  type BucketWithInputs,
  DEFAULT_INPUT_NAME,
  DEFAULT_INPUT_RESPONSE,
  DEFAULT_PASSTHROUGH_TIMEOUT_MS,
  type Input,
  type InputPatch,
  type InputResponse,
  NameTakenError,
} from "./store.ts";

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

export interface SqliteBuckets extends BucketStore {
  /** Drops the cached input routes: another process may have changed inputs or buckets. */
  forgetRoutes(): void;
}

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

function bucketQueries(db: Database) {
  return {
    bucketById: db.query<BucketRow, [string]>("SELECT * FROM buckets WHERE id = ?"),
    bucketByName: db.query<BucketRow, [string]>("SELECT * FROM buckets WHERE name = ?"),
    buckets: db.query<BucketRow, []>("SELECT * FROM buckets ORDER BY name"),
    insertBucket: db.query<null, [string, string, string, number]>(
      "INSERT INTO buckets (id, name, description, created_at) VALUES (?, ?, ?, ?)",
    ),
    deleteBucket: db.query<null, [string]>("DELETE FROM buckets WHERE id = ?"),
    deleteBucketDeliveries: db.query<null, [string]>("DELETE FROM deliveries WHERE bucket_id = ?"),
    deleteFloor: db.query<null, [string]>("DELETE FROM retention_floor WHERE bucket_id = ?"),
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
  };
}

/** Inserts an input with the default settings and no secret. */
function insertInput(
  q: ReturnType<typeof bucketQueries>,
  bucketId: string,
  name: string,
  response: InputResponse,
  now: number,
): Input {
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
}

/** `committed` resolves once the write it follows is durable; `outputs` lists each bucket's outputs. */
export function openSqliteBuckets(db: Database, committed: Committed, outputs: SqliteOutputs): SqliteBuckets {
  const q = bucketQueries(db);

  const routes = createRouteCache();

  const withInputs = (row: BucketRow): BucketWithInputs => ({
    ...toBucket(row),
    inputs: q.inputsOf.all(row.id).map(toInput),
    outputs: outputs.outputsOf(row.id),
  });

  const createBucket = db.transaction((name: string, description: string): BucketWithInputs => {
    if (q.bucketByName.get(name) !== null) throw new NameTakenError(name);
    const now = Date.now();
    const bucket: Bucket = { id: crypto.randomUUID(), name, description, createdAt: now };
    q.insertBucket.run(bucket.id, name, description, now);
    return {
      ...bucket,
      inputs: [insertInput(q, bucket.id, DEFAULT_INPUT_NAME, DEFAULT_INPUT_RESPONSE, now)],
      outputs: [],
    };
  });

  const deleteBucket = db.transaction((id: string): boolean => {
    q.deleteBucketDeliveries.run(id);
    q.deleteFloor.run(id);
    return q.deleteBucket.run(id).changes > 0;
  });

  const updateInput = db.transaction((inputId: string, patch: InputPatch): Input | null => {
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
    const hasSecret = patch.githubSecret === undefined ? current.hasSecret : patch.githubSecret !== null;
    return { ...current, name, response, hasSecret, passthrough, passthroughTimeoutMs };
  });

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
      const row = q.bucketById.get(idOrName) ?? q.bucketByName.get(idOrName);
      return row === null ? null : withInputs(row);
    },
    async deleteBucket(id) {
      routes.forget();
      return committed(deleteBucket.immediate(id));
    },
    async addInput(bucketId, name) {
      if (q.bucketById.get(bucketId) === null) return null;
      return committed(insertInput(q, bucketId, name, DEFAULT_INPUT_RESPONSE, Date.now()));
    },
    async updateInput(inputId, patch) {
      routes.forget();
      return committed(updateInput.immediate(inputId, patch));
    },
    async resolveInput(inputId) {
      return routes.resolve(inputId, () => {
        const row = q.inputById.get(inputId);
        if (row === null) return null;
        const bucket = q.bucketById.get(row.bucket_id);
        if (bucket === null) return null;
        return { input: toInput(row), bucket: toBucket(bucket), githubSecret: row.github_secret };
      });
    },
    forgetRoutes: routes.forget,
  };
}
