/**
 * The bucket and input names a read of the delivery stream hands out with each delivery, cached per instance.
 *
 * Every change to buckets and inputs (a bucket created or deleted, an input added or renamed) increments the
 * version counter in the same script (relay-record-scripts.ts; instances of the previous version run the same
 * scripts), so names are cached for one value of that counter. A read fetches the counter together with its
 * entries, after them, and uses the cache only when the cache was filled at that same value; otherwise it
 * looks up what it needs (HMGET) and the cache starts over at the read's value. A lookup answers with the
 * names as they are at the lookup, never older than the counter it was made for, so a read never hands out
 * names older than its entries: a bucket deleted before the read's counter is always skipped.
 *
 * This is sharper than the change notifications (relay-changes.ts), which arrive later and may be lost while
 * a subscription reconnects; reading the counter costs one small command next to each read.
 */
import type { Redis, RedisValue } from "./redis.ts";
import { type RedisKeys, replyArray, replyNumber } from "./relay-keys.ts";

/**
 * Buckets plus inputs the cache holds at most; at the limit it starts over empty (the next reads look their
 * names up again), so an instance relaying for many buckets holds a bounded number of names.
 */
const NAME_CACHE_ENTRIES = 8192;

export interface Names {
  /** The bucket's name, or null when the bucket no longer exists. */
  bucket(bucketId: string): string | null;
  /** The input's name ('' when it no longer exists). */
  input(inputId: string): string;
}

export interface NameCache {
  /**
   * Names of these buckets and inputs for a read that fetched the version counter as `version` (its raw
   * reply, null before the first change) together with its entries.
   */
  names(version: RedisValue, bucketIds: Iterable<string>, inputIds: Iterable<string>): Promise<Names>;
}

interface Cached {
  version: number;
  buckets: Map<string, string | null>;
  inputs: Map<string, string>;
}

const nameOf = (json: unknown): string | null => {
  if (typeof json !== "string") return null;
  const name = (JSON.parse(json) as { name?: unknown }).name;
  return typeof name === "string" ? name : null;
};

export function createNameCache(redis: Redis, keys: RedisKeys): NameCache {
  let cached: Cached = { version: -1, buckets: new Map(), inputs: new Map() };

  return {
    async names(versionReply, bucketIds, inputIds) {
      const version = versionReply === null ? 0 : replyNumber(versionReply, "version");
      const at =
        cached.version === version && cached.buckets.size + cached.inputs.size < NAME_CACHE_ENTRIES
          ? cached
          : { version, buckets: new Map(), inputs: new Map() };
      const buckets = [...new Set(bucketIds)].filter((id) => !at.buckets.has(id));
      const inputs = [...new Set(inputIds)].filter((id) => !at.inputs.has(id));
      if (buckets.length > 0 || inputs.length > 0) {
        // Pipelined on the shared connection: one round trip for both.
        const [bucketJson, inputJson] = await Promise.all([
          buckets.length > 0 ? redis.send("HMGET", [keys.buckets, ...buckets]) : [],
          inputs.length > 0 ? redis.send("HMGET", [keys.inputs, ...inputs]) : [],
        ]);
        const bucketReplies = replyArray(bucketJson, "bucket names");
        const inputReplies = replyArray(inputJson, "input names");
        for (const [i, id] of buckets.entries()) at.buckets.set(id, nameOf(bucketReplies[i]));
        for (const [i, id] of inputs.entries()) at.inputs.set(id, nameOf(inputReplies[i]) ?? "");
      }
      // A read that fetched an older counter than the cache's (it overtook another) leaves the cache alone.
      if (version >= cached.version) cached = at;
      return {
        bucket: (id) => at.buckets.get(id) ?? null,
        input: (id) => at.inputs.get(id) ?? "",
      };
    },
  };
}
