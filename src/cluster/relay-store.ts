/**
 * The Redis relay store: what several hookstream instances share when REDIS_URL is set. Buckets, inputs and
 * tokens are JSON records in hashes (key layout in redis-keys.ts); deliveries are one stream
 * (redis-deliveries.ts). Semantics are the SQLite store's; the contract suite runs against both.
 *
 * Every change that touches several keys is one Lua script (relay-scripts.ts, relay-record-scripts.ts), so it is atomic across
 * instances; read-modify-write changes (an input's settings, a revocation) are compare-and-set, retried on
 * a concurrent change. Every change to buckets, inputs or tokens increments one version counter: that is
 * `externalChanges()`, which each instance polls to re-check tokens and to drop its cached input routes.
 *
 * A deleted bucket's grants disappear from its tokens as in SQLite, by filtering on read: bucket ids are
 * random and never reused, so a grant to a bucket that no longer exists is a grant to nothing.
 *
 * `RedisUnavailableError` passes through every method unchanged: nothing was changed then, and the same
 * call may succeed once Redis is back.
 */
import { z } from "zod";
import type { LogFn } from "../relay/relay.ts";
import {
  type Bucket,
  DEFAULT_INPUT_NAME,
  DEFAULT_INPUT_RESPONSE,
  DEFAULT_PASSTHROUGH_TIMEOUT_MS,
  type Input,
  type InputRoute,
  NameTakenError,
  type RelayStore,
  type ReplayedDelivery,
  type Token,
} from "../relay/store.ts";
import type { Redis } from "./redis.ts";
import { createRedisDeliveries } from "./relay-deliveries.ts";
import { REDIS_LAYOUT, redisKeys, replyNumber, replyString, replyStrings, writing } from "./relay-keys.ts";
import { createRedisOutputs } from "./relay-outputs.ts";
import {
  ADD_INPUT_SCRIPT,
  CREATE_BUCKET_SCRIPT,
  CREATE_TOKEN_SCRIPT,
  DELETE_BUCKET_SCRIPT,
  REPLACE_FIELD_SCRIPT,
} from "./relay-record-scripts.ts";

/** Input routes held in memory; past it the cache starts over (it refills from hits). */
const MAX_CACHED_ROUTES = 10_000;
/** Attempts of a compare-and-set before giving up: only a storm of concurrent edits of one record fails it. */
const MAX_REPLACE_ATTEMPTS = 100;

export interface RedisRelayStore extends RelayStore {
  /**
   * Waits up to `blockMs` for deliveries after `afterPosition` and returns them (at most `maxRows` read), in
   * stream order, with their names as they are now; deliveries of deleted buckets are skipped. Returns []
   * when nothing came. Rejects with `RedisUnavailableError` while Redis is away: call again with the same
   * position. Waits on a connection of its own; concurrent calls queue on it.
   */
  waitForDeliveries(afterPosition: number, blockMs: number, maxRows: number): Promise<ReplayedDelivery[]>;
}

export interface RedisStoreOptions {
  /** Every key starts with it (REDIS_KEY_PREFIX, default `hookstream:`). */
  keyPrefix: string;
  log: LogFn;
}

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

type InputRecord = z.output<typeof inputRecord>;
type TokenRecord = z.infer<typeof tokenRecord>;

function parseRecord<T>(schema: z.ZodType<T>, json: string, what: string): T {
  const parsed = schema.safeParse(JSON.parse(json));
  if (!parsed.success) throw new Error(`malformed ${what} record in Redis: ${parsed.error.message}`);
  return parsed.data;
}

const toInput = ({ githubSecret, ...input }: InputRecord): Input => ({
  ...input,
  hasSecret: githubSecret !== null,
});

const byCreation = (a: Input, b: Input) =>
  a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Opens the store on a connection the caller keeps owning (`close()` closes only the store's own blocking
 * connection). Refuses keys written in another layout under the same prefix.
 */
export async function openRedisStore(redis: Redis, options: RedisStoreOptions): Promise<RedisRelayStore> {
  const keys = redisKeys(options.keyPrefix);
  if ((await redis.send("SET", [keys.layout, REDIS_LAYOUT, "NX"])) !== null)
    options.log("info", `new relay store in Redis under "${options.keyPrefix}"`);
  const layout = await redis.send("GET", [keys.layout]);
  if (layout !== REDIS_LAYOUT)
    throw new Error(
      `the Redis keys under "${options.keyPrefix}" have layout ${String(layout)}, this hookstream reads ${REDIS_LAYOUT}`,
    );
  const deliveries = createRedisDeliveries(redis, keys);
  const outputs = createRedisOutputs(redis, keys);

  /**
   * Input routes by input id, as in the SQLite store. `generation` counts clears, so a lookup that raced
   * with a clear does not put what it read before the change back into the cache.
   */
  const routes = new Map<string, InputRoute>();
  let generation = 0;
  const forgetRoutes = () => {
    routes.clear();
    generation++;
  };
  let seenVersion: number | null = null;

  const hget = async (key: string, field: string) => {
    const value = await redis.send("HGET", [key, field]);
    return value === null ? null : replyString(value, key);
  };
  const hvals = async (key: string) => replyStrings(await redis.send("HVALS", [key]), key);

  const readBucket = async (id: string) => {
    const json = await hget(keys.buckets, id);
    return json === null ? null : parseRecord(bucketRecord, json, "bucket");
  };
  const readInput = async (id: string) => {
    const json = await hget(keys.inputs, id);
    return json === null ? null : { json, record: parseRecord(inputRecord, json, "input") };
  };
  const readToken = async (key: string) => {
    const json = await hget(keys.tokens, key);
    return json === null ? null : { json, record: parseRecord(tokenRecord, json, "token") };
  };
  const allTokens = async () =>
    (await hvals(keys.tokens))
      .map((json) => parseRecord(tokenRecord, json, "token"))
      .sort((a, b) => a.id - b.id);

  /**
   * Replaces a record read as `json` by `change(record)`, unless it changed meanwhile (then reads again).
   * Null when the record does not exist or `change` declines (returns null).
   */
  const replace = async <R>(
    hash: string,
    field: string,
    read: () => Promise<{ json: string; record: R } | null>,
    change: (record: R) => R | null,
  ): Promise<R | null> => {
    for (let attempt = 0; attempt < MAX_REPLACE_ATTEMPTS; attempt++) {
      const current = await read();
      if (current === null) return null;
      const next = change(current.record);
      if (next === null) return null;
      const outcome = replyNumber(
        await writing(
          redis.eval(REPLACE_FIELD_SCRIPT, [hash, keys.version], [field, current.json, JSON.stringify(next)]),
        ),
        "replace",
      );
      if (outcome === 1) return next;
      if (outcome === -1) return null;
    }
    throw new Error(`${hash} ${field} kept changing during ${MAX_REPLACE_ATTEMPTS} attempts to update it`);
  };

  /** Grants to buckets deleted since are dropped, as SQLite's cascade does. */
  const toToken = ({ secretHash: _, ...token }: TokenRecord, existing: ReadonlySet<string>): Token => ({
    ...token,
    bucketIds: token.bucketIds === null ? null : token.bucketIds.filter((id) => existing.has(id)),
  });
  const existingBuckets = async (ids: readonly string[]) => {
    if (ids.length === 0) return new Set<string>();
    const found = await redis.send("HMGET", [keys.buckets, ...ids]);
    const values = Array.isArray(found) ? found : [];
    return new Set(ids.filter((_, i) => values[i] !== null && values[i] !== undefined));
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

  return {
    async createBucket(name, description = "") {
      const now = Date.now();
      const bucket: Bucket = { id: crypto.randomUUID(), name, description, createdAt: now };
      const input: InputRecord = {
        id: crypto.randomUUID(),
        bucketId: bucket.id,
        name: DEFAULT_INPUT_NAME,
        response: DEFAULT_INPUT_RESPONSE,
        githubSecret: null,
        passthrough: false,
        passthroughTimeoutMs: DEFAULT_PASSTHROUGH_TIMEOUT_MS,
        createdAt: now,
      };
      const created = await writing(
        redis.eval(
          CREATE_BUCKET_SCRIPT,
          [keys.buckets, keys.bucketNames, keys.inputs, keys.bucketInputs(bucket.id), keys.version],
          [bucket.id, name, JSON.stringify(bucket), input.id, JSON.stringify(input)],
        ),
      );
      if (created === 0) throw new NameTakenError(name);
      return { ...bucket, inputs: [toInput(input)], outputs: [] };
    },
    async listBuckets() {
      const inputs = Map.groupBy(
        (await hvals(keys.inputs)).map((json) => toInput(parseRecord(inputRecord, json, "input"))),
        (input) => input.bucketId,
      );
      const buckets = (await hvals(keys.buckets))
        .map((json) => parseRecord(bucketRecord, json, "bucket"))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map((bucket) => ({ ...bucket, inputs: (inputs.get(bucket.id) ?? []).sort(byCreation) }));
      const listed = [];
      for (const bucket of buckets) listed.push({ ...bucket, outputs: await outputs.outputsOf(bucket.id) });
      return listed;
    },
    async findBucket(idOrName) {
      let bucket = await readBucket(idOrName);
      if (bucket === null) {
        const id = await hget(keys.bucketNames, idOrName);
        bucket = id === null ? null : await readBucket(id);
      }
      return bucket === null
        ? null
        : { ...bucket, inputs: await inputsOf(bucket.id), outputs: await outputs.outputsOf(bucket.id) };
    },
    async deleteBucket(id) {
      const deleted = await redis.eval(
        DELETE_BUCKET_SCRIPT,
        [
          keys.buckets,
          keys.bucketNames,
          keys.inputs,
          keys.bucketInputs(id),
          keys.prunedThrough,
          `${keys.dedupPrefix}${id}`,
          keys.version,
          `${keys.outputsPrefix}${id}`,
        ],
        [id],
      );
      forgetRoutes();
      return deleted === 1;
    },
    async addInput(bucketId, name) {
      const input: InputRecord = {
        id: crypto.randomUUID(),
        bucketId,
        name,
        response: DEFAULT_INPUT_RESPONSE,
        githubSecret: null,
        passthrough: false,
        passthroughTimeoutMs: DEFAULT_PASSTHROUGH_TIMEOUT_MS,
        createdAt: Date.now(),
      };
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
      const updated = await replace(
        keys.inputs,
        inputId,
        () => readInput(inputId),
        (input) => ({
          ...input,
          name: patch.name ?? input.name,
          response: patch.response ?? input.response,
          githubSecret: patch.githubSecret === undefined ? input.githubSecret : patch.githubSecret,
          passthrough: patch.passthrough ?? input.passthrough,
          passthroughTimeoutMs: patch.passthroughTimeoutMs ?? input.passthroughTimeoutMs,
        }),
      );
      // After the write: a lookup that read the old settings meanwhile must not stay cached.
      forgetRoutes();
      return updated === null ? null : toInput(updated);
    },
    async resolveInput(inputId) {
      const cached = routes.get(inputId);
      if (cached !== undefined) return cached;
      const lookup = generation;
      const input = await readInput(inputId);
      if (input === null) return null;
      const bucket = await readBucket(input.record.bucketId);
      if (bucket === null) return null;
      const route = { input: toInput(input.record), bucket, githubSecret: input.record.githubSecret };
      // Unknown ids are not cached, so probing random ids cannot evict the real ones.
      if (lookup === generation) {
        if (routes.size >= MAX_CACHED_ROUTES) routes.clear();
        routes.set(inputId, route);
      }
      return route;
    },

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
      const revoked = await replace(
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

    appendDeliveries: deliveries.appendDeliveries,
    listDeliveries: deliveries.listDeliveries,
    recentDeliveries: deliveries.recentDeliveries,
    deliveryByGithubId: deliveries.deliveryByGithubId,
    readDeliveries: deliveries.readDeliveries,
    deliveryPosition: deliveries.deliveryPosition,
    pruneDeliveries: deliveries.pruneDeliveries,
    waitForDeliveries: deliveries.waitForDeliveries,

    createOutput: outputs.createOutput,
    deleteOutput: outputs.deleteOutput,
    claimOutputAttempts: outputs.claimOutputAttempts,
    recordOutputAttempt: outputs.recordOutputAttempt,
    outputAttempts: outputs.outputAttempts,

    async externalChanges() {
      const value = await redis.send("GET", [keys.version]);
      const version = value === null ? 0 : replyNumber(value, "version");
      if (version !== seenVersion) forgetRoutes();
      seenVersion = version;
      return version;
    },
    async close() {
      await deliveries.close();
    },
  };
}
