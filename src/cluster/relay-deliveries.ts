/**
 * Deliveries in Redis: one stream for every bucket, so every instance sees one order. Stream ids are chosen
 * by the append script (see relay-scripts.ts) and are the deliveries' ids and cursors at once; positions are
 * `streamCursors.positionOf(id)`.
 *
 * Reads filter the stream by bucket, scanning it in bounded pages: memory is bounded, but finding a quiet
 * bucket's deliveries in a long stream costs a scan of the entries in between.
 *
 * Entries of a deleted bucket stay in the stream until retention reaches them, but no read returns them:
 * every read skips entries whose bucket no longer exists (bucket ids are random and never reused). Until
 * then they count towards RELAY_RETENTION_COUNT, which is over the whole stream.
 *
 * Bodies are kept in keys of their own beside the stream (relay-bodies.ts).
 */

import { STREAM_SEQ_LIMIT, streamCursors } from "../relay/cursor.ts";
import type {
  AppendResult,
  DeliveryRead,
  DeliveryStore,
  NewDelivery,
  ReplayedDelivery,
  StoredDelivery,
} from "../relay/store.ts";
import { createBlockingConnection } from "./blocking-connection.ts";
import { type Redis, RedisUnavailableError, type RedisValue } from "./redis.ts";
import { deliveriesOf, stageBodies } from "./relay-bodies.ts";
import { waitForDeliveries } from "./relay-follow.ts";
import { type RedisKeys, replyArray, replyNumber, replyString, writing } from "./relay-keys.ts";
import { APPEND_SCRIPT, BUCKET_SCAN_SCRIPT, PRUNE_SCRIPT, READ_SCRIPT } from "./relay-scripts.ts";

/**
 * How long an output attempt's record outlives its last change. Retention trims the stream without knowing
 * attempt keys, so they expire instead; an outcome stays visible this long after it settled.
 */
export const ATTEMPT_RECORD_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * Entries one read script scans at most before handing back where to continue, so a reader looking for a
 * quiet bucket in a long stream never blocks Redis for more than about a millisecond at a time.
 */
const READ_SCAN_BUDGET = 2048;

const STREAM_ID = /^\d+-\d+$/;

export interface RedisDeliveries extends DeliveryStore {
  waitForDeliveries(afterPosition: number, blockMs: number, maxRows: number): Promise<ReplayedDelivery[]>;
  close(): Promise<void>;
}

/** The append script's arguments after its keys: the limits and prefixes, then 11 fields per delivery. */
function appendArgs(keys: RedisKeys, batch: readonly NewDelivery[], bodyTokens: readonly string[]) {
  const args: (string | number)[] = [
    STREAM_SEQ_LIMIT,
    keys.dedupPrefix,
    keys.outputsPrefix,
    keys.attemptsPrefix,
    ATTEMPT_RECORD_TTL_MS,
    keys.stagedPrefix,
    keys.bodyPrefix,
  ];
  batch.forEach((d, i) => {
    args.push(
      d.bucketId,
      d.githubDelivery === null ? "" : `=${d.githubDelivery}`,
      d.inputId,
      d.method,
      JSON.stringify(d.headers),
      d.query,
      bodyTokens[i] as string,
      d.body.byteLength,
      d.sourceAddress,
      d.receivedAt,
      d.replayOf ?? "",
    );
  });
  return args;
}

async function appendDeliveries(redis: Redis, keys: RedisKeys, batch: readonly NewDelivery[]) {
  if (batch.length === 0) return [];
  // EVAL with the source rather than `redis.eval` (EVALSHA, then EVAL on NOSCRIPT): after a Redis restart
  // a NOSCRIPT retry would be sent after appends called later, which would then get earlier ids. One
  // script per call, sent in call order on one connection right after its bodies, keeps ids in call order.
  const staged = stageBodies(
    redis,
    keys,
    batch.map((d) => d.body),
  );
  const appended = writing(
    redis.send("EVAL", [
      APPEND_SCRIPT.source,
      3,
      keys.deliveries,
      keys.lastId,
      keys.outputDue,
      ...appendArgs(keys, batch, staged.tokens),
    ]),
  );
  const [, reply] = await Promise.all([staged.stored, appended]).catch((error: unknown) => {
    // Staged but gone before the script ran: Redis restarted in between. Nothing was appended.
    if (String(error).includes("BODYLOST")) throw new RedisUnavailableError(error);
    throw error;
  });
  return replyArray(reply, "append").map(
    (id): AppendResult =>
      id === null ? { id: null, duplicate: true } : { id: replyString(id, "appended id"), duplicate: false },
  );
}

/** One bucket's deliveries after (forward) or before (backward) an id, matched inside Redis. */
async function scanBucket(
  redis: Redis,
  keys: RedisKeys,
  bucketId: string,
  limit: number,
  direction: "forward" | "backward",
  after: string | null,
): Promise<StoredDelivery[]> {
  const found: StoredDelivery[] = [];
  if (limit <= 0 || (await redis.send("HEXISTS", [keys.buckets, bucketId])) !== 1) return found;
  let start = after ?? "";
  while (found.length < limit) {
    const [entries, resume] = replyArray(
      await redis.eval(
        BUCKET_SCAN_SCRIPT,
        [keys.deliveries],
        [direction, start, bucketId, limit - found.length, READ_SCAN_BUDGET],
      ),
      "bucket scan",
    );
    // A body gone since the scan is a delivery retention deleted since: it is left out, as a scan started
    // after retention would have.
    for (const delivery of await deliveriesOf(redis, keys, replyArray(entries ?? null, "bucket scan rows")))
      if (delivery !== null) found.push(delivery);
    start = replyString(resume ?? null, "bucket scan resume");
    if (start === "") break;
  }
  return found;
}

async function deliveryByGithubId(redis: Redis, keys: RedisKeys, bucketId: string, githubDelivery: string) {
  // The bucket's dedup hash maps X-GitHub-Delivery to the stream id while the delivery is kept.
  const id = await redis.send("HGET", [`${keys.dedupPrefix}${bucketId}`, githubDelivery]);
  if (id === null) return null;
  const streamId = replyString(id, "dedup id");
  const [delivery = null] = await deliveriesOf(
    redis,
    keys,
    replyArray(await redis.send("XRANGE", [keys.deliveries, streamId, streamId]), "xrange"),
  );
  return delivery;
}

/**
 * Read script rows (`[id, fields, bucket name, input name]`) as replayed deliveries, and the position of the
 * last row whose body is gone (0: none). A body is gone when retention deleted its delivery after the script
 * read it; retention deletes the oldest entries first, so those rows are the first of the page, and leaving
 * out every row up to there makes the page what a read after that retention returns.
 */
async function replayedRows(redis: Redis, keys: RedisKeys, rows: RedisValue[]) {
  const parts = rows.map((row) => replyArray(row, "read row"));
  const deliveries = await deliveriesOf(
    redis,
    keys,
    parts.map(([id, fields]) => [id ?? null, fields ?? null]),
  );
  let lostThrough = 0;
  deliveries.forEach((delivery, i) => {
    if (delivery === null)
      lostThrough = streamCursors.positionOf(replyString(parts[i]?.[0] ?? null, "read row id"));
  });
  const replayed: ReplayedDelivery[] = [];
  deliveries.forEach((delivery, i) => {
    if (delivery === null || streamCursors.positionOf(delivery.id) <= lostThrough) return;
    const [, , bucketName, inputName] = parts[i] as RedisValue[];
    replayed.push({
      ...delivery,
      bucketName: replyString(bucketName ?? null, "bucket name"),
      inputName: replyString(inputName ?? null, "input name"),
    });
  });
  return { replayed, lostThrough };
}

async function readDeliveries(redis: Redis, keys: RedisKeys, read: DeliveryRead) {
  if (read.bucketIds?.length === 0) return { deliveries: [], prunedThrough: 0 };
  const buckets = read.bucketIds === null ? ["all"] : ["some", ...new Set(read.bucketIds)];
  const through = streamCursors.format(read.throughPosition);
  let after = streamCursors.format(read.afterPosition);
  // The floor comes from the same script call as the page. When a call scanned its budget without
  // finding anything, the next one continues; its floor is the one returned. That is exact: whatever
  // retention deleted between the calls of these buckets lies before the range scanned so far, where
  // nothing of these buckets was found, so it was never part of this read. Rows retention deleted between
  // the script and their bodies raise the floor past them the same way.
  let prunedThrough = 0;
  for (;;) {
    const [floor, resume, rows] = replyArray(
      await redis.eval(
        READ_SCRIPT,
        [keys.deliveries, keys.prunedThrough, keys.buckets, keys.inputs],
        [`(${after}`, through, read.maxRows, read.maxBytes, READ_SCAN_BUDGET, ...buckets],
      ),
      "read",
    );
    const floorId = replyString(floor ?? null, "read floor");
    if (floorId !== "") prunedThrough = Math.max(prunedThrough, streamCursors.positionOf(floorId));
    const scanned = replyArray(rows ?? null, "read rows");
    const { replayed, lostThrough } = await replayedRows(redis, keys, scanned);
    prunedThrough = Math.max(prunedThrough, lostThrough);
    const next = replyString(resume ?? null, "read resume");
    if (replayed.length > 0 || (scanned.length === 0 && next === ""))
      return { deliveries: replayed, prunedThrough };
    // Nothing found in the budget, or every row found was deleted since: read on from there.
    after = scanned.length > 0 ? streamCursors.format(lostThrough) : next;
  }
}

/** The highest floor of these buckets (null: all), as the read script reports it, without reading a page. */
async function retentionFloor(redis: Redis, keys: RedisKeys, bucketIds: readonly string[] | null) {
  if (bucketIds?.length === 0) return 0;
  const floors =
    bucketIds === null
      ? await redis.send("HVALS", [keys.prunedThrough])
      : await redis.send("HMGET", [keys.prunedThrough, ...new Set(bucketIds)]);
  let highest = 0;
  for (const floor of replyArray(floors, "retention floors"))
    if (floor !== null)
      highest = Math.max(highest, streamCursors.positionOf(replyString(floor, "retention floor")));
  return highest;
}

export function createRedisDeliveries(redis: Redis, keys: RedisKeys): RedisDeliveries {
  const blocking = createBlockingConnection(redis);
  return {
    appendDeliveries: (batch) => appendDeliveries(redis, keys, batch),
    listDeliveries(bucketId, afterId, limit) {
      if (afterId !== null && !STREAM_ID.test(afterId))
        return Promise.reject(new TypeError(`not a delivery id: ${afterId}`));
      return scanBucket(redis, keys, bucketId, limit, "forward", afterId);
    },
    recentDeliveries: (bucketId, limit) => scanBucket(redis, keys, bucketId, limit, "backward", null),
    deliveryByGithubId: (bucketId, githubDelivery) =>
      deliveryByGithubId(redis, keys, bucketId, githubDelivery),
    readDeliveries: (read) => readDeliveries(redis, keys, read),
    retentionFloor: (bucketIds) => retentionFloor(redis, keys, bucketIds),
    async deliveryPosition() {
      const last = await redis.send("GET", [keys.lastId]);
      return {
        cursors: streamCursors,
        lastPosition: last === null ? 0 : streamCursors.positionOf(replyString(last, "last id")),
      };
    },
    async pruneDeliveries(policy, limit) {
      if (limit <= 0 || (policy.receivedBefore === null && policy.keepNewest === null)) return 0;
      const deleted = await redis.eval(
        PRUNE_SCRIPT,
        [keys.deliveries, keys.prunedThrough, keys.buckets],
        [policy.receivedBefore ?? "", policy.keepNewest ?? "", limit, keys.dedupPrefix, keys.bodyPrefix],
      );
      return replyNumber(deleted, "prune");
    },
    async waitForDeliveries(afterPosition, blockMs, maxRows) {
      return waitForDeliveries(redis, keys, await blocking.get(), afterPosition, blockMs, maxRows);
    },
    async close() {
      blocking.close();
    },
  };
}
