/**
 * Deliveries in Redis: one stream for every bucket, so every instance sees one order. Stream ids are chosen
 * by the append script (see relay-scripts.ts) and are the deliveries' ids and cursors at once; positions are
 * `streamCursors.positionOf(id)`.
 *
 * Reads filter the stream by bucket, scanning it in bounded pages: memory is bounded, but finding a quiet
 * bucket's deliveries in a long stream costs a scan of the entries in between. Pages for readers and the
 * live follow are read in relay-read.ts; listings scan inside Redis (BUCKET_SCAN_SCRIPT).
 *
 * Entries of a deleted bucket stay in the stream until retention reaches them, but no read returns them:
 * every read skips entries whose bucket no longer exists (bucket ids are random and never reused). Until
 * then they count towards RELAY_RETENTION_COUNT, which is over the whole stream.
 *
 * Bodies are stored base64, so any bytes survive Redis's string replies.
 */

import { STREAM_SEQ_LIMIT, streamCursors } from "../relay/cursor.ts";
import type {
  AppendResult,
  DeliveryStore,
  NewDelivery,
  ReplayedDelivery,
  StoredDelivery,
} from "../relay/store.ts";
import { createBlockingConnection } from "./blocking-connection.ts";
import type { Redis } from "./redis.ts";
import { type RedisKeys, replyArray, replyNumber, replyString, writing } from "./relay-keys.ts";
import { createStreamReads, toDelivery } from "./relay-read.ts";
import { APPEND_SCRIPT, BUCKET_SCAN_SCRIPT, PRUNE_SCRIPT } from "./relay-scripts.ts";

/**
 * How long an output attempt's record outlives its last change. Retention trims the stream without knowing
 * attempt keys, so they expire instead; an outcome stays visible this long after it settled.
 */
export const ATTEMPT_RECORD_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * Entries one bucket scan script scans at most before handing back where to continue, so a reader looking
 * for a quiet bucket in a long stream never blocks Redis for more than about a millisecond at a time.
 */
const READ_SCAN_BUDGET = 2048;

const STREAM_ID = /^\d+-\d+$/;

export interface RedisDeliveries extends DeliveryStore {
  waitForDeliveries(afterPosition: number, blockMs: number, maxRows: number): Promise<ReplayedDelivery[]>;
  close(): Promise<void>;
}

const toBase64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

/** The append script's arguments after its keys: the limits and prefixes, then ten fields per delivery. */
function appendArgs(keys: RedisKeys, batch: readonly NewDelivery[]): (string | number)[] {
  const args: (string | number)[] = [
    STREAM_SEQ_LIMIT,
    keys.dedupPrefix,
    keys.outputsPrefix,
    keys.attemptsPrefix,
    ATTEMPT_RECORD_TTL_MS,
  ];
  for (const d of batch)
    args.push(
      d.bucketId,
      d.githubDelivery === null ? "" : `=${d.githubDelivery}`,
      d.inputId,
      d.method,
      JSON.stringify(d.headers),
      d.query,
      toBase64(d.body),
      d.sourceAddress,
      d.receivedAt,
      d.replayOf ?? "",
    );
  return args;
}

async function appendDeliveries(redis: Redis, keys: RedisKeys, batch: readonly NewDelivery[]) {
  if (batch.length === 0) return [];
  // EVAL with the source rather than `redis.eval` (EVALSHA, then EVAL on NOSCRIPT): after a Redis restart
  // a NOSCRIPT retry would be sent after appends called later, which would then get earlier ids. One
  // command per call, sent in call order on one connection, keeps ids in call order.
  const reply = await writing(
    redis.send("EVAL", [
      APPEND_SCRIPT.source,
      3,
      keys.deliveries,
      keys.lastId,
      keys.outputDue,
      ...appendArgs(keys, batch),
    ]),
  );
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
    for (const entry of replyArray(entries ?? null, "bucket scan rows")) found.push(toDelivery(entry));
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
  const [entry] = replyArray(await redis.send("XRANGE", [keys.deliveries, streamId, streamId]), "xrange");
  return entry === undefined ? null : toDelivery(entry);
}

export function createRedisDeliveries(redis: Redis, keys: RedisKeys): RedisDeliveries {
  const blocking = createBlockingConnection(redis);
  const reads = createStreamReads(redis, keys, blocking);
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
    readDeliveries: reads.readDeliveries,
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
        [policy.receivedBefore ?? "", policy.keepNewest ?? "", limit, keys.dedupPrefix],
      );
      return replyNumber(deleted, "prune");
    },
    waitForDeliveries: reads.waitForDeliveries,
    async close() {
      blocking.close();
    },
  };
}
