/**
 * Where the Redis relay store keeps what, and the small helpers its modules share: reading replies with
 * their shape checked, and turning "Redis is full" into the store's `StorageFullError`.
 *
 * Everything lives under one prefix (REDIS_KEY_PREFIX, default `hookstream:`):
 *
 *   layout                      string  the layout version of the keys below; a store refuses another
 *   version                     counter INCR on every change to buckets, inputs or tokens (externalChanges)
 *   buckets                     hash    bucket id → bucket JSON
 *   bucket-names                hash    bucket name → bucket id (names are unique)
 *   bucket-inputs:<bucket id>   set     the bucket's input ids
 *   inputs                      hash    input id → input JSON (with its GitHub secret)
 *   tokens                      hash    token key → token JSON (SHA-256 of the secret, hex)
 *   token-seq                   counter numeric token ids
 *   deliveries                  stream  every delivery of every bucket without its body, ids `<ms>-<seq>`
 *                                       chosen by the store
 *   deliveries:body:<stream id> string  that delivery's body, its bytes as they are (relay-bodies.ts)
 *   deliveries:staged:<token>   string  a body sent ahead of its append script, expiring unless appended
 *   deliveries:last-id          string  the last stream id ever assigned (survives an emptied stream)
 *   deliveries:pruned-through   hash    bucket id → highest stream id retention deleted of that bucket
 *   deliveries:dedup:<bucket>   hash    X-GitHub-Delivery → stream id, while that delivery is kept
 *   outputs:<bucket id>         hash    output id → output JSON
 *   output-due                  zset    `<stream id>/<output id>` of pending attempts, scored by when due (ms)
 *   output-attempts:<stream id> hash    output id → attempt JSON (expires, see redis-outputs.ts)
 */

import { StorageFullError } from "../relay/store.ts";
import { RedisUnavailableError, type RedisValue } from "./redis.ts";

/** Bumped when the layout changes incompatibly. */
export const REDIS_LAYOUT = "2";

/**
 * Layouts this store opens and moves to REDIS_LAYOUT. Layout 1 kept bodies inside the stream entries; those
 * entries are still read as they are, so a layout 1 store only needs its marker raised.
 */
export const UPGRADABLE_LAYOUTS: readonly string[] = ["1"];

export interface RedisKeys {
  layout: string;
  version: string;
  buckets: string;
  bucketNames: string;
  bucketInputs(bucketId: string): string;
  inputs: string;
  tokens: string;
  tokenSeq: string;
  deliveries: string;
  lastId: string;
  prunedThrough: string;
  /** Prefix of the body keys (the stream id follows). */
  bodyPrefix: string;
  /** Prefix of the staged body keys (a token follows). */
  stagedPrefix: string;
  /** Prefix of the per-bucket dedup hashes (the scripts append the bucket id). */
  dedupPrefix: string;
  /** Prefix of the per-bucket output hashes (the append script appends the bucket id). */
  outputsPrefix: string;
  outputDue: string;
  /** Prefix of the per-delivery attempt hashes (the append script appends the stream id). */
  attemptsPrefix: string;
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    layout: `${prefix}layout`,
    version: `${prefix}version`,
    buckets: `${prefix}buckets`,
    bucketNames: `${prefix}bucket-names`,
    bucketInputs: (bucketId) => `${prefix}bucket-inputs:${bucketId}`,
    inputs: `${prefix}inputs`,
    tokens: `${prefix}tokens`,
    tokenSeq: `${prefix}token-seq`,
    deliveries: `${prefix}deliveries`,
    lastId: `${prefix}deliveries:last-id`,
    prunedThrough: `${prefix}deliveries:pruned-through`,
    bodyPrefix: `${prefix}deliveries:body:`,
    stagedPrefix: `${prefix}deliveries:staged:`,
    dedupPrefix: `${prefix}deliveries:dedup:`,
    outputsPrefix: `${prefix}outputs:`,
    outputDue: `${prefix}output-due`,
    attemptsPrefix: `${prefix}output-attempts:`,
  };
}

export class UnexpectedReplyError extends Error {
  constructor(what: string, value: RedisValue) {
    super(`unexpected Redis reply for ${what}: ${JSON.stringify(value)?.slice(0, 200)}`);
  }
}

export function replyArray(value: RedisValue, what: string): RedisValue[] {
  if (!Array.isArray(value)) throw new UnexpectedReplyError(what, value);
  return value;
}

export function replyString(value: RedisValue, what: string): string {
  if (typeof value !== "string") throw new UnexpectedReplyError(what, value);
  return value;
}

export function replyStrings(value: RedisValue, what: string): string[] {
  return replyArray(value, what).map((item) => replyString(item, what));
}

export function replyNumber(value: RedisValue, what: string): number {
  const number = typeof value === "string" ? Number(value) : value;
  if (typeof number !== "number" || !Number.isFinite(number)) throw new UnexpectedReplyError(what, value);
  return number;
}

/** Redis refuses writes past `maxmemory` (with the default `noeviction` policy): the store is full. */
export async function writing<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (!(error instanceof RedisUnavailableError) && String(error).includes("OOM command not allowed"))
      throw new StorageFullError();
    throw error;
  }
}
