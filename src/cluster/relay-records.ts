/**
 * Reading and replacing the JSON records of the Redis relay store (buckets, inputs and tokens in hashes, key
 * layout in relay-keys.ts). A record that does not match its schema is an error naming what it was, never
 * passed on half-read.
 */
import type { z } from "zod";
import type { Redis } from "./redis.ts";
import { type RedisKeys, replyNumber, replyString, replyStrings, writing } from "./relay-keys.ts";
import { REPLACE_FIELD_SCRIPT } from "./relay-record-scripts.ts";

/** Attempts of a compare-and-set before giving up: only a storm of concurrent edits of one record fails it. */
const MAX_REPLACE_ATTEMPTS = 100;

export function parseRecord<T>(schema: z.ZodType<T>, json: string, what: string): T {
  const parsed = schema.safeParse(JSON.parse(json));
  if (!parsed.success) throw new Error(`malformed ${what} record in Redis: ${parsed.error.message}`);
  return parsed.data;
}

export interface RedisRecords {
  hget(key: string, field: string): Promise<string | null>;
  hvals(key: string): Promise<string[]>;
  /**
   * Replaces a record read as `json` by `change(record)`, unless it changed meanwhile (then reads again).
   * Null when the record does not exist or `change` declines (returns null).
   */
  replace<R>(
    hash: string,
    field: string,
    read: () => Promise<{ json: string; record: R } | null>,
    change: (record: R) => R | null,
  ): Promise<R | null>;
}

export function redisRecords(redis: Redis, keys: RedisKeys): RedisRecords {
  return {
    async hget(key, field) {
      const value = await redis.send("HGET", [key, field]);
      return value === null ? null : replyString(value, key);
    },
    async hvals(key) {
      return replyStrings(await redis.send("HVALS", [key]), key);
    },
    async replace(hash, field, read, change) {
      for (let attempt = 0; attempt < MAX_REPLACE_ATTEMPTS; attempt++) {
        const current = await read();
        if (current === null) return null;
        const next = change(current.record);
        if (next === null) return null;
        const outcome = replyNumber(
          await writing(
            redis.eval(
              REPLACE_FIELD_SCRIPT,
              [hash, keys.version],
              [field, current.json, JSON.stringify(next)],
            ),
          ),
          "replace",
        );
        if (outcome === 1) return next;
        if (outcome === -1) return null;
      }
      throw new Error(`${hash} ${field} kept changing during ${MAX_REPLACE_ATTEMPTS} attempts to update it`);
    },
  };
}
