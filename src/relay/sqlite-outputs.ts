/**
 * Outputs and output attempts in the SQLite relay store (tables in migrations.ts). Attempts are inserted by
 * `addAttempts` inside the transaction that appends their delivery, and removed with it by a trigger.
 */
import type { Database } from "bun:sqlite";
import {
  type AttemptState,
  type ClaimedAttempt,
  cancelledAttempt,
  type NewOutput,
  newOutput,
  type Output,
  type OutputAttempt,
  type OutputDeliverer,
  OutputNameTakenError,
  type OutputStore,
  type StoredDelivery,
} from "./store.ts";

interface OutputRow {
  id: string;
  bucket_id: string;
  name: string;
  destination: string;
  delivered_by: OutputDeliverer;
  created_at: number;
}

interface AttemptRow {
  delivery_id: number;
  output_id: string;
  output_name: string;
  destination: string;
  state: AttemptState;
  attempts: number;
  next_at: number | null;
  status: number | null;
  error: string | null;
  response_body: string;
  updated_at: number;
}

const toOutput = (row: OutputRow): Output => ({
  id: row.id,
  bucketId: row.bucket_id,
  name: row.name,
  destination: row.destination,
  deliveredBy: row.delivered_by,
  createdAt: row.created_at,
});

const toAttempt = (row: AttemptRow): OutputAttempt => ({
  deliveryId: String(row.delivery_id),
  outputId: row.output_id,
  outputName: row.output_name,
  destination: row.destination,
  state: row.state,
  attempts: row.attempts,
  nextAt: row.next_at,
  status: row.status,
  error: row.error,
  responseBody: row.response_body,
  updatedAt: row.updated_at,
});

export interface SqliteOutputs extends OutputStore {
  outputsOf(bucketId: string): Output[];
  allOutputs(): Output[];
  /** Call inside the transaction that appended the delivery: one pending attempt per hookstream output. */
  addAttempts(deliveryId: number, bucketId: string, now: number): void;
}

function outputQueries(db: Database) {
  return {
    bucketById: db.query<{ id: string }, [string]>("SELECT id FROM buckets WHERE id = ?"),
    outputsOf: db.query<OutputRow, [string]>(
      "SELECT * FROM outputs WHERE bucket_id = ? ORDER BY created_at, id",
    ),
    outputs: db.query<OutputRow, []>("SELECT * FROM outputs ORDER BY created_at, id"),
    outputByName: db.query<OutputRow, [string, string]>(
      "SELECT * FROM outputs WHERE bucket_id = ? AND name = ?",
    ),
    insertOutput: db.query<null, [string, string, string, string, string, number]>(
      `INSERT INTO outputs (id, bucket_id, name, destination, delivered_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    deleteOutput: db.query<null, [string, string, string]>(
      "DELETE FROM outputs WHERE bucket_id = ? AND (id = ? OR name = ?)",
    ),
    // In the delivery's transaction: one pending attempt per output hookstream delivers, due at once.
    insertAttempts: db.query<null, [number, number, number, string]>(
      `INSERT INTO output_attempts
           (delivery_id, output_id, output_name, destination, state, attempts, next_at, response_body, updated_at)
         SELECT ?1, id, name, destination, 'pending', 0, ?2, '', ?3 FROM outputs
          WHERE bucket_id = ?4 AND delivered_by = 'hookstream'`,
    ),
    dueAttempts: db.query<AttemptRow & { output_exists: number }, [number, number]>(
      `SELECT a.*, (SELECT count(*) FROM outputs o WHERE o.id = a.output_id) AS output_exists
           FROM output_attempts a WHERE a.state = 'pending' AND a.next_at <= ? ORDER BY a.next_at LIMIT ?`,
    ),
    lease: db.query<null, [number, number, string]>(
      "UPDATE output_attempts SET next_at = ? WHERE delivery_id = ? AND output_id = ?",
    ),
    recordAttempt: db.query<
      null,
      [string, number, number | null, number | null, string | null, string, number, number, string]
    >(
      `UPDATE output_attempts SET state = ?, attempts = ?, next_at = ?, status = ?, error = ?,
           response_body = ?, updated_at = ? WHERE delivery_id = ? AND output_id = ?`,
    ),
    nextDue: db.query<{ at: number | null }, []>(
      "SELECT min(next_at) AS at FROM output_attempts WHERE state = 'pending'",
    ),
    attemptsOf: db.query<AttemptRow, [number]>(
      "SELECT * FROM output_attempts WHERE delivery_id = ? ORDER BY output_name",
    ),
  };
}

type OutputQueries = ReturnType<typeof outputQueries>;

function recordAttempt(q: OutputQueries, a: OutputAttempt) {
  return q.recordAttempt.run(
    a.state,
    a.attempts,
    a.nextAt,
    a.status,
    a.error,
    a.responseBody,
    a.updatedAt,
    Number(a.deliveryId),
    a.outputId,
  );
}

/** The output, or null when the bucket does not exist; OutputNameTakenError when the name is taken. */
function createOutputTransaction(db: Database, q: OutputQueries) {
  return db.transaction((bucketId: string, output: NewOutput): Output | null => {
    if (q.bucketById.get(bucketId) === null) return null;
    if (q.outputByName.get(bucketId, output.name) !== null) throw new OutputNameTakenError(output.name);
    const created = newOutput(bucketId, output);
    q.insertOutput.run(
      created.id,
      bucketId,
      created.name,
      created.destination,
      created.deliveredBy,
      created.createdAt,
    );
    return created;
  });
}

/** Leases due attempts for `leaseMs`; an attempt whose output was deleted is cancelled instead. */
function claimTransaction(
  db: Database,
  q: OutputQueries,
  readDelivery: (id: number) => StoredDelivery | null,
) {
  return db.transaction((now: number, leaseMs: number, limit: number): ClaimedAttempt[] => {
    const claimed: ClaimedAttempt[] = [];
    for (const row of q.dueAttempts.all(now, limit)) {
      const delivery = readDelivery(row.delivery_id);
      if (delivery === null) continue;
      const attempt = toAttempt(row);
      if (row.output_exists === 0) {
        recordAttempt(q, cancelledAttempt(attempt, now));
        continue;
      }
      q.lease.run(now + leaseMs, row.delivery_id, row.output_id);
      claimed.push({ attempt: { ...attempt, nextAt: now + leaseMs }, delivery: delivery });
    }
    return claimed;
  });
}

/** `committed` resolves once the write it follows is durable; `readDelivery` reads one delivery by id. */
export function openSqliteOutputs(
  db: Database,
  committed: <T>(value: T) => Promise<T>,
  readDelivery: (id: number) => StoredDelivery | null,
): SqliteOutputs {
  const q = outputQueries(db);
  const createOutput = createOutputTransaction(db, q);
  const claimAttempts = claimTransaction(db, q, readDelivery);

  return {
    outputsOf: (bucketId) => q.outputsOf.all(bucketId).map(toOutput),
    allOutputs: () => q.outputs.all().map(toOutput),
    addAttempts(deliveryId, bucketId, now) {
      q.insertAttempts.run(deliveryId, now, now, bucketId);
    },
    async createOutput(bucketId, output) {
      return committed(createOutput.immediate(bucketId, output));
    },
    async deleteOutput(bucketId, idOrName) {
      return committed(q.deleteOutput.run(bucketId, idOrName, idOrName).changes > 0);
    },
    async claimOutputAttempts(now, leaseMs, limit) {
      const claimed = claimAttempts.immediate(now, leaseMs, limit);
      // An empty claim changed nothing worth an fsync (a lost lease only repeats a claim).
      return claimed.length === 0 ? claimed : committed(claimed);
    },
    async recordOutputAttempt(attempt) {
      await committed(recordAttempt(q, attempt));
    },
    async outputAttempts(deliveryIds) {
      return deliveryIds.flatMap((id) => q.attemptsOf.all(Number(id)).map(toAttempt));
    },
    async nextOutputAttemptAt() {
      return q.nextDue.get()?.at ?? null;
    },
  };
}
