/**
 * The Redis relay store: what several hookstream instances share when REDIS_URL is set. Buckets, inputs and
 * tokens are JSON records in hashes (relay-buckets.ts, relay-tokens.ts; key layout in relay-keys.ts);
 * deliveries are one stream (relay-deliveries.ts); outputs and their attempts are in relay-outputs.ts.
 * Semantics are the SQLite store's; the contract suite runs against both.
 *
 * Every change that touches several keys is one Lua script (relay-scripts.ts, relay-record-scripts.ts), so it
 * is atomic across instances; read-modify-write changes (an input's settings, a revocation) are
 * compare-and-set, retried on a concurrent change (relay-records.ts). Every change to buckets, inputs or
 * tokens increments one version counter: that is `externalChanges()`, which each instance reads to re-check
 * tokens and to drop its cached input routes when another announces a change (relay-changes.ts).
 *
 * `RedisUnavailableError` passes through every method unchanged: nothing was changed then, and the same
 * call may succeed once Redis is back.
 */
import type { LogFn } from "../relay/relay.ts";
import type { RelayStore, ReplayedDelivery } from "../relay/store.ts";
import { luaScript, type Redis } from "./redis.ts";
import { createRedisBuckets } from "./relay-buckets.ts";
import { createRedisChanges } from "./relay-changes.ts";
import { createRedisDeliveries } from "./relay-deliveries.ts";
import { REDIS_LAYOUT, redisKeys, replyNumber, UPGRADABLE_LAYOUTS } from "./relay-keys.ts";
import { createRedisOutputs } from "./relay-outputs.ts";
import { redisRecords } from "./relay-records.ts";
import { createRedisTokens } from "./relay-tokens.ts";

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

/** Sets the layout key (KEYS[1]) to ARGV[2] if it still holds ARGV[1]. */
const UPGRADE_LAYOUT_SCRIPT = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) end
`);

/**
 * Opens the store on a connection the caller keeps owning (`close()` closes only the store's own blocking
 * connection). Moves an older layout it reads to its own; refuses keys written in any other layout under the
 * same prefix.
 */
export async function openRedisStore(redis: Redis, options: RedisStoreOptions): Promise<RedisRelayStore> {
  const keys = redisKeys(options.keyPrefix);
  if ((await redis.send("SET", [keys.layout, REDIS_LAYOUT, "NX"])) !== null)
    options.log("info", `new relay store in Redis under "${options.keyPrefix}"`);
  let layout = await redis.send("GET", [keys.layout]);
  if (typeof layout === "string" && UPGRADABLE_LAYOUTS.includes(layout)) {
    // Compare-and-set, so two instances starting at once cannot undo a later change.
    await redis.eval(UPGRADE_LAYOUT_SCRIPT, [keys.layout], [layout, REDIS_LAYOUT]);
    options.log(
      "info",
      `relay store in Redis under "${options.keyPrefix}" moved from layout ${layout} to ${REDIS_LAYOUT}`,
    );
    layout = await redis.send("GET", [keys.layout]);
  }
  if (layout !== REDIS_LAYOUT)
    throw new Error(
      `the Redis keys under "${options.keyPrefix}" have layout ${String(layout)}, this hookstream reads ${REDIS_LAYOUT}`,
    );
  const deliveries = createRedisDeliveries(redis, keys);
  const outputs = createRedisOutputs(redis, keys);
  const records = redisRecords(redis, keys);
  const { forgetRoutes, ...buckets } = createRedisBuckets(redis, keys, records, outputs);
  let seenVersion: number | null = null;
  const changes = createRedisChanges(redis, `${options.keyPrefix}changes`, options.log);

  return {
    // Every change to buckets, inputs, tokens or outputs is announced to the other instances.
    ...changes.announcing({
      ...buckets,
      ...createRedisTokens(redis, keys, records),
      createOutput: outputs.createOutput,
      deleteOutput: outputs.deleteOutput,
    }),

    appendDeliveries: deliveries.appendDeliveries,
    listDeliveries: deliveries.listDeliveries,
    recentDeliveries: deliveries.recentDeliveries,
    deliveryByGithubId: deliveries.deliveryByGithubId,
    readDeliveries: deliveries.readDeliveries,
    retentionFloor: deliveries.retentionFloor,
    deliveryPosition: deliveries.deliveryPosition,
    pruneDeliveries: deliveries.pruneDeliveries,
    waitForDeliveries: deliveries.waitForDeliveries,

    claimOutputAttempts: outputs.claimOutputAttempts,
    recordOutputAttempt: outputs.recordOutputAttempt,
    outputAttempts: outputs.outputAttempts,
    nextOutputAttemptAt: outputs.nextOutputAttemptAt,

    async externalChanges() {
      const value = await redis.send("GET", [keys.version]);
      const version = value === null ? 0 : replyNumber(value, "version");
      if (version !== seenVersion) forgetRoutes();
      seenVersion = version;
      return version;
    },
    watchChanges: changes.watch,
    async close() {
      changes.close();
      await deliveries.close();
    },
  };
}
