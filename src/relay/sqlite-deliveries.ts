/**
 * Deliveries in the SQLite relay store: appended in batches (one transaction and one fsync per batch, see
 * writer.ts), read in pages by position, pruned from the front by retention, which leaves a floor per bucket
 * so a reader learns what was removed. A delivery's id is its position; the epoch is in `relay_meta`.
 */
import type { Database } from "bun:sqlite";
import { epochCursors } from "./cursor.ts";
import { type Committed, isStorageFull } from "./sqlite-durability.ts";
import {
  type AppendResult,
  type DeliveryRead,
  type DeliveryStore,
  type NewDelivery,
  type ReplayedDelivery,
  type RetentionPolicy,
  StorageFullError,
  type StoredDelivery,
} from "./store.ts";

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

export interface SqliteDeliveries extends DeliveryStore {
  deliveryById(id: number): StoredDelivery | null;
}

const toDelivery = (row: DeliveryRow): StoredDelivery => ({
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

function deliveryQueries(db: Database) {
  return {
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
    deliveryById: db.query<DeliveryRow, [number]>("SELECT * FROM deliveries WHERE id = ?"),
    epoch: db.query<{ value: string }, []>("SELECT value FROM relay_meta WHERE key = 'epoch'"),
    lastId: db.query<{ seq: number }, []>("SELECT seq FROM sqlite_sequence WHERE name = 'deliveries'"),
  };
}

function retentionQueries(db: Database) {
  return {
    bucketFloor: db.query<{ pruned_through: number }, [string]>(
      "SELECT pruned_through FROM retention_floor WHERE bucket_id = ?",
    ),
    highestFloor: db.query<{ pruned_through: number | null }, []>(
      "SELECT max(pruned_through) AS pruned_through FROM retention_floor",
    ),
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
  };
}

/** Ids of the next deliveries of these buckets in the range, in store order (a merge of per-bucket scans). */
function idsInRange(q: ReturnType<typeof deliveryQueries>, read: DeliveryRead): number[] {
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
}

function floorOf(r: ReturnType<typeof retentionQueries>, bucketIds: readonly string[] | null): number {
  if (bucketIds === null) return r.highestFloor.get()?.pruned_through ?? 0;
  let floor = 0;
  for (const bucketId of bucketIds) floor = Math.max(floor, r.bucketFloor.get(bucketId)?.pruned_through ?? 0);
  return floor;
}

/**
 * `committed` resolves once the write it follows is durable. `onAppended` runs inside the transaction that
 * appended a delivery (not for a duplicate), so what it writes commits or rolls back with the batch.
 */
export function openSqliteDeliveries(
  db: Database,
  committed: Committed,
  onAppended: (id: number, delivery: NewDelivery) => void,
): SqliteDeliveries {
  const q = deliveryQueries(db);
  const r = retentionQueries(db);

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
      onAppended(id, d);
      return { id: String(id), duplicate: false };
    }),
  );

  // One read transaction: the page and the retention floor come from the same snapshot.
  const readDeliveries = db.transaction((read: DeliveryRead) => {
    const deliveries: ReplayedDelivery[] = [];
    let bytes = 0;
    for (const id of idsInRange(q, read)) {
      const row = q.replayRow.get(id);
      if (row === null) continue;
      deliveries.push({ ...toDelivery(row), bucketName: row.bucket_name, inputName: row.input_name });
      bytes += row.body.byteLength;
      if (bytes >= read.maxBytes) break;
    }
    return { deliveries, prunedThrough: floorOf(r, read.bucketIds) };
  });

  const pruneDeliveries = db.transaction((policy: RetentionPolicy, limit: number): number => {
    let cut = 0;
    if (policy.receivedBefore !== null) cut = r.cutByAge.get(policy.receivedBefore)?.id ?? 0;
    if (policy.keepNewest !== null) cut = Math.max(cut, r.cutByCount.get(policy.keepNewest)?.id ?? 0);
    if (cut === 0) return 0;
    const floors = r.doomedFloors.all(cut, limit);
    // Deleting first frees pages, so recording the floors works even when the database is full.
    const deleted = r.prune.run(cut, limit).changes;
    for (const floor of floors) r.raiseFloor.run(floor.bucket_id, floor.id);
    return deleted;
  });

  return {
    deliveryById(id) {
      const row = q.deliveryById.get(id);
      return row === null ? null : toDelivery(row);
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
    async retentionFloor(bucketIds) {
      return floorOf(r, bucketIds);
    },
    async deliveryPosition() {
      const epoch = q.epoch.get()?.value;
      if (epoch === undefined) throw new Error("the database has no cursor epoch");
      return { cursors: epochCursors(epoch), lastPosition: q.lastId.get()?.seq ?? 0 };
    },
    async pruneDeliveries(policy, limit) {
      return pruneDeliveries.immediate(policy, limit);
    },
  };
}
