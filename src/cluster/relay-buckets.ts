/**
 * Buckets and their inputs in Redis: JSON records in hashes, a name index and a set of input ids per bucket
 * (key layout in relay-keys.ts), and the cache of input routes the webhook endpoint reads.
 */
import { z } from "zod";
import { createRouteCache } from "../relay/route-cache.ts";
import {
  type Bucket,
  type BucketStore,
  DEFAULT_INPUT_NAME,
  DEFAULT_INPUT_RESPONSE,
  DEFAULT_PASSTHROUGH_TIMEOUT_MS,
  type Input,
  type InputPatch,
  NameTakenError,
} from "../relay/store.ts";
import type { Redis } from "./redis.ts";
import { type RedisKeys, replyStrings, writing } from "./relay-keys.ts";
import type { RedisOutputs } from "./relay-outputs.ts";
import { ADD_INPUT_SCRIPT, CREATE_BUCKET_SCRIPT, DELETE_BUCKET_SCRIPT } from "./relay-record-scripts.ts";
import { parseRecord, type RedisRecords } from "./relay-records.ts";

const bucketRecord = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  createdAt: z.number(),
});

const inputRecord = z.object({
  id: z.string(),
  bucketId: z.string(),
  name: z.string(),
  response: z.object({ status: z.number(), body: z.string(), headers: z.record(z.string(), z.string()) }),
  githubSecret: z.string().nullable(),
  // Absent in records written before passthrough existed.
  passthrough: z.boolean().default(false),
  passthroughTimeoutMs: z.number().int().default(DEFAULT_PASSTHROUGH_TIMEOUT_MS),
  createdAt: z.number(),
});

type InputRecord = z.output<typeof inputRecord>;

export interface RedisBuckets extends BucketStore {
  /** Drops the cached input routes: buckets or inputs may have changed elsewhere. */
  forgetRoutes(): void;
}

const toInput = ({ githubSecret, ...input }: InputRecord): Input => ({
  ...input,
  hasSecret: githubSecret !== null,
});

const byCreation = (a: Input, b: Input) =>
  a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** A new input with the default settings and no secret. */
const newInput = (bucketId: string, name: string, response = DEFAULT_INPUT_RESPONSE): InputRecord => ({
  id: crypto.randomUUID(),
  bucketId,
  name,
  response,
  githubSecret: null,
  passthrough: false,
  passthroughTimeoutMs: DEFAULT_PASSTHROUGH_TIMEOUT_MS,
  createdAt: Date.now(),
});

/** Reads of bucket and input records; a missing one is null, a malformed one an error. */
function bucketReads(redis: Redis, keys: RedisKeys, records: RedisRecords) {
  const readBucket = async (id: string) => {
    const json = await records.hget(keys.buckets, id);
    return json === null ? null : parseRecord(bucketRecord, json, "bucket");
  };
  const readInput = async (id: string) => {
    const json = await records.hget(keys.inputs, id);
    return json === null ? null : { json, record: parseRecord(inputRecord, json, "input") };
  };
  const inputsOf = async (bucketId: string): Promise<Input[]> => {
    const ids = replyStrings(await redis.send("SMEMBERS", [keys.bucketInputs(bucketId)]), "bucket inputs");
    if (ids.length === 0) return [];
    const found = await redis.send("HMGET", [keys.inputs, ...ids]);
    const inputs: Input[] = [];
    for (const json of Array.isArray(found) ? found : [])
      if (typeof json === "string") inputs.push(toInput(parseRecord(inputRecord, json, "input")));
    return inputs.sort(byCreation);
  };
  return { readBucket, readInput, inputsOf };
}

/** An input record with a patch applied: absent fields keep their value, a null secret removes it. */
export function patchInput(input: InputRecord, patch: InputPatch): InputRecord {
  return {
    ...input,
    name: patch.name ?? input.name,
    response: patch.response ?? input.response,
    githubSecret: patch.githubSecret === undefined ? input.githubSecret : patch.githubSecret,
    passthrough: patch.passthrough ?? input.passthrough,
    passthroughTimeoutMs: patch.passthroughTimeoutMs ?? input.passthroughTimeoutMs,
  };
}

/** Every key a bucket's deletion removes or touches, in the delete script's order. */
function bucketDeletionKeys(keys: RedisKeys, id: string): string[] {
  return [
    keys.buckets,
    keys.bucketNames,
    keys.inputs,
    keys.bucketInputs(id),
    keys.prunedThrough,
    `${keys.dedupPrefix}${id}`,
    keys.version,
    `${keys.outputsPrefix}${id}`,
  ];
}

/** A bucket with its default input, made in one script; NameTakenError when the name is taken. */
async function createBucket(redis: Redis, keys: RedisKeys, name: string, description: string) {
  const now = Date.now();
  const bucket: Bucket = { id: crypto.randomUUID(), name, description, createdAt: now };
  const input: InputRecord = { ...newInput(bucket.id, DEFAULT_INPUT_NAME), createdAt: now };
  const created = await writing(
    redis.eval(
      CREATE_BUCKET_SCRIPT,
      [keys.buckets, keys.bucketNames, keys.inputs, keys.bucketInputs(bucket.id), keys.version],
      [bucket.id, name, JSON.stringify(bucket), input.id, JSON.stringify(input)],
    ),
  );
  if (created === 0) throw new NameTakenError(name);
  return { ...bucket, inputs: [toInput(input)], outputs: [] };
}

/** Every bucket by name, each with its inputs by creation and its outputs. */
async function listBuckets(keys: RedisKeys, records: RedisRecords, outputs: RedisOutputs) {
  const inputs = Map.groupBy(
    (await records.hvals(keys.inputs)).map((json) => toInput(parseRecord(inputRecord, json, "input"))),
    (input) => input.bucketId,
  );
  const buckets = (await records.hvals(keys.buckets))
    .map((json) => parseRecord(bucketRecord, json, "bucket"))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((bucket) => ({ ...bucket, inputs: (inputs.get(bucket.id) ?? []).sort(byCreation) }));
  const listed = [];
  for (const bucket of buckets) listed.push({ ...bucket, outputs: await outputs.outputsOf(bucket.id) });
  return listed;
}

export function createRedisBuckets(
  redis: Redis,
  keys: RedisKeys,
  records: RedisRecords,
  outputs: RedisOutputs,
): RedisBuckets {
  const routes = createRouteCache();
  const forgetRoutes = routes.forget;

  const { readBucket, readInput, inputsOf } = bucketReads(redis, keys, records);

  return {
    forgetRoutes,
    createBucket: (name, description = "") => createBucket(redis, keys, name, description),
    listBuckets: () => listBuckets(keys, records, outputs),
    async findBucket(idOrName) {
      let bucket = await readBucket(idOrName);
      if (bucket === null) {
        const id = await records.hget(keys.bucketNames, idOrName);
        bucket = id === null ? null : await readBucket(id);
      }
      return bucket === null
        ? null
        : { ...bucket, inputs: await inputsOf(bucket.id), outputs: await outputs.outputsOf(bucket.id) };
    },
    async deleteBucket(id) {
      const deleted = await redis.eval(DELETE_BUCKET_SCRIPT, bucketDeletionKeys(keys, id), [id]);
      forgetRoutes();
      return deleted === 1;
    },
    async addInput(bucketId, name) {
      const input = newInput(bucketId, name);
      const added = await writing(
        redis.eval(
          ADD_INPUT_SCRIPT,
          [keys.buckets, keys.inputs, keys.bucketInputs(bucketId), keys.version],
          [bucketId, input.id, JSON.stringify(input)],
        ),
      );
      return added === 1 ? toInput(input) : null;
    },
    async updateInput(inputId, patch) {
      const updated = await records.replace(
        keys.inputs,
        inputId,
        () => readInput(inputId),
        (input) => patchInput(input, patch),
      );
      // After the write: a lookup that read the old settings meanwhile must not stay cached.
      forgetRoutes();
      return updated === null ? null : toInput(updated);
    },
    async resolveInput(inputId) {
      return routes.resolve(inputId, async () => {
        const input = await readInput(inputId);
        if (input === null) return null;
        const bucket = await readBucket(input.record.bucketId);
        if (bucket === null) return null;
        return { input: toInput(input.record), bucket, githubSecret: input.record.githubSecret };
      });
    },
  };
}
