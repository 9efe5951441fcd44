/**
 * Access tokens in the SQLite relay store: the key, the secret's hash (never the secret), and the buckets a
 * token may use (`all_buckets`, or rows of `token_buckets`).
 */
import type { Database } from "bun:sqlite";
import type { Committed } from "./sqlite-durability.ts";
import type { NewToken, Token, TokenStore } from "./store.ts";

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

const toToken = (row: TokenRow, bucketIds: string[] | null): Token => ({
  id: row.id,
  key: row.key,
  description: row.description,
  admin: row.admin === 1,
  bucketIds,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

function tokenQueries(db: Database) {
  return {
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
  };
}

/** `committed` resolves once the write it follows is durable. */
export function openSqliteTokens(db: Database, committed: Committed): TokenStore {
  const q = tokenQueries(db);

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

  return {
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
  };
}
