/**
 * Access tokens in Redis: one JSON record per key in the tokens hash, ids from a counter. A deleted bucket's
 * grants disappear from its tokens as in SQLite, by filtering on read: bucket ids are random and never
 * reused, so a grant to a bucket that no longer exists is a grant to nothing.
 */
import { z } from "zod";
import type { Token, TokenStore } from "../relay/store.ts";
import type { Redis } from "./redis.ts";
import { type RedisKeys, replyNumber, replyStrings, writing } from "./relay-keys.ts";
import { CREATE_TOKEN_SCRIPT } from "./relay-record-scripts.ts";
import { parseRecord, type RedisRecords } from "./relay-records.ts";

const tokenRecord = z.object({
  id: z.number().int(),
  key: z.string(),
  secretHash: z.string().regex(/^([0-9a-f]{2})*$/),
  description: z.string(),
  admin: z.boolean(),
  bucketIds: z.array(z.string()).nullable(),
  createdAt: z.number(),
  revokedAt: z.number().nullable(),
});

type TokenRecord = z.infer<typeof tokenRecord>;

/** Grants to buckets deleted since are dropped, as SQLite's cascade does. */
const toToken = ({ secretHash: _, ...token }: TokenRecord, existing: ReadonlySet<string>): Token => ({
  ...token,
  bucketIds: token.bucketIds === null ? null : token.bucketIds.filter((id) => existing.has(id)),
});

export function createRedisTokens(redis: Redis, keys: RedisKeys, records: RedisRecords): TokenStore {
  const readToken = async (key: string) => {
    const json = await records.hget(keys.tokens, key);
    return json === null ? null : { json, record: parseRecord(tokenRecord, json, "token") };
  };
  const allTokens = async () =>
    (await records.hvals(keys.tokens))
      .map((json) => parseRecord(tokenRecord, json, "token"))
      .sort((a, b) => a.id - b.id);
  const existingBuckets = async (ids: readonly string[]) => {
    if (ids.length === 0) return new Set<string>();
    const found = await redis.send("HMGET", [keys.buckets, ...ids]);
    const values = Array.isArray(found) ? found : [];
    return new Set(ids.filter((_, i) => values[i] !== null && values[i] !== undefined));
  };

  return {
    async createToken(token) {
      const id = replyNumber(await writing(redis.send("INCR", [keys.tokenSeq])), "token id");
      const record: TokenRecord = {
        id,
        key: token.key,
        secretHash: Buffer.from(token.secretHash).toString("hex"),
        description: token.description,
        admin: token.admin,
        bucketIds: token.bucketIds === null ? null : [...new Set(token.bucketIds)].sort(),
        createdAt: Date.now(),
        revokedAt: null,
      };
      const created = await writing(
        redis.eval(CREATE_TOKEN_SCRIPT, [keys.tokens, keys.version], [token.key, JSON.stringify(record)]),
      );
      if (created !== 1) throw new Error(`a token with key ${token.key} already exists`);
      return toToken(record, new Set(record.bucketIds));
    },
    async listTokens() {
      const tokens = await allTokens();
      const existing = new Set(
        await redis.send("HKEYS", [keys.buckets]).then((v) => replyStrings(v, "buckets")),
      );
      return tokens.map((token) => toToken(token, existing));
    },
    async findToken(key) {
      const found = await readToken(key);
      if (found === null) return null;
      const { record } = found;
      return {
        token: toToken(record, await existingBuckets(record.bucketIds ?? [])),
        secretHash: new Uint8Array(Buffer.from(record.secretHash, "hex")),
      };
    },
    async revokeToken(key) {
      const revoked = await records.replace(
        keys.tokens,
        key,
        () => readToken(key),
        (token) => (token.revokedAt === null ? { ...token, revokedAt: Date.now() } : null),
      );
      return revoked !== null;
    },
    async inactiveTokens(ids) {
      if (ids.length === 0) return [];
      const active = new Set((await allTokens()).filter((t) => t.revokedAt === null).map((t) => t.id));
      return ids.filter((id) => !active.has(id));
    },
    async countAdminTokens() {
      return (await allTokens()).filter((t) => t.admin && t.revokedAt === null).length;
    },
  };
}
