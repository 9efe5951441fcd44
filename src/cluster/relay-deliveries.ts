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
 * Bodies are stored base64, so any bytes survive Redis's string replies.
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
import type { Redis, RedisValue } from "./redis.ts";
import {
  type RedisKeys,
  replyArray,
  replyNumber,
  replyString,
  replyStrings,
  UnexpectedReplyError,
  writing,
} from "./relay-keys.ts";
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

/** Body bytes one wait for deliveries returns at most (but always at least one delivery). */
const WAIT_PAGE_BYTES = 1024 * 1024;

const STREAM_ID = /^\d+-\d+$/;

export interface RedisDeliveries extends DeliveryStore {
  waitForDeliveries(afterPosition: number, blockMs: number, maxRows: number): Promise<ReplayedDelivery[]>;
  close(): Promise<void>;
}

const toBase64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

/** A stream entry (`[id, [field, value, ...]]`) as a stored delivery. */
export function toDelivery(entry: RedisValue): StoredDelivery {
  const [id, list] = replyArray(entry, "stream entry");
  const flat = replyStrings(list ?? null, "stream entry fields");
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
  const field = (name: string) => {
    const value = fields.get(name);
    if (value === undefined) throw new UnexpectedReplyError(`stream entry field ${name}`, flat);
    return value;
  };
  return {
    id: replyString(id ?? null, "stream entry id"),
    bucketId: field("b"),
    inputId: field("i"),
    githubDelivery: fields.get("g") ?? null,
    method: field("m"),
    headers: JSON.parse(field("h")) as Record<string, string[]>,
    query: field("q"),
    body: new Uint8Array(Buffer.from(field("d"), "base64")),
    sourceAddress: field("s"),
    receivedAt: Number(field("t")),
    ...(fields.has("r") ? { replayOf: fields.get("r") as string } : {}),
  };
}

/** XREAD's answer for one stream: a map keyed by stream name (RESP3) or `[[name, entries]]` (RESP2). */
function xreadEntries(reply: RedisValue, stream: string): RedisValue[] {
  if (reply === null) return [];
  if (Array.isArray(reply)) {
    const [pair] = reply;
    return replyArray(replyArray(pair ?? null, "XREAD")[1] ?? null, "XREAD");
  }
  if (typeof reply === "object") return replyArray(reply[stream] ?? [], "XREAD");
  throw new UnexpectedReplyError("XREAD", reply);
}

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

/** A read script row (`[id, fields, bucket name, input name]`) as a replayed delivery. */
function toReplayed(row: RedisValue): ReplayedDelivery {
  const [id, fields, bucketName, inputName] = replyArray(row, "read row");
  return {
    ...toDelivery([id ?? null, fields ?? null]),
    bucketName: replyString(bucketName ?? null, "bucket name"),
    inputName: replyString(inputName ?? null, "input name"),
  };
}

async function readDeliveries(redis: Redis, keys: RedisKeys, read: DeliveryRead) {
  if (read.bucketIds?.length === 0) return { deliveries: [], prunedThrough: 0 };
  const buckets = read.bucketIds === null ? ["all"] : ["some", ...new Set(read.bucketIds)];
  const through = streamCursors.format(read.throughPosition);
  let after = streamCursors.format(read.afterPosition);
  // The floor comes from the same script call as the page. When a call scanned its budget without
  // finding anything, the next one continues; its floor is the one returned. That is exact: whatever
  // retention deleted between the calls of these buckets lies before the range scanned so far, where
  // nothing of these buckets was found, so it was never part of this read.
  for (;;) {
    const [floor, resume, rows] = replyArray(
      await redis.eval(
        READ_SCRIPT,
        [keys.deliveries, keys.prunedThrough, keys.buckets, keys.inputs],
        [`(${after}`, through, read.maxRows, read.maxBytes, READ_SCAN_BUDGET, ...buckets],
      ),
      "read",
    );
    const deliveries = replyArray(rows ?? null, "read rows").map(toReplayed);
    const next = replyString(resume ?? null, "read resume");
    if (deliveries.length > 0 || next === "") {
      const floorId = replyString(floor ?? null, "read floor");
      return { deliveries, prunedThrough: floorId === "" ? 0 : streamCursors.positionOf(floorId) };
    }
    after = next;
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

/** The position of the stream's newest entry, or null when the stream is empty. */
async function newestPosition(redis: Redis, keys: RedisKeys): Promise<number | null> {
  const top = await redis.send("XREVRANGE", [keys.deliveries, "+", "-", "COUNT", 1]);
  const newest = replyArray(top, "newest entry")[0];
  if (newest === undefined) return null;
  return streamCursors.positionOf(replyString(replyArray(newest, "newest entry")[0] ?? null, "newest id"));
}

async function waitForDeliveries(
  redis: Redis,
  keys: RedisKeys,
  connection: Redis,
  afterPosition: number,
  blockMs: number,
  maxRows: number,
): Promise<ReplayedDelivery[]> {
  const deadline = Date.now() + blockMs;
  let after = afterPosition;
  for (;;) {
    const remaining = deadline - Date.now();
    // XREAD BLOCK 0 would wait forever: once the time is up, one more read that does not block.
    const block = remaining >= 1 ? ["BLOCK", Math.ceil(remaining)] : [];
    // One entry tells that something is new; the page itself is read by the byte-bounded read script,
    // so a follower behind many large bodies never holds more than WAIT_PAGE_BYTES of them at once.
    const reply = await connection.send("XREAD", [
      "COUNT",
      1,
      ...block,
      "STREAMS",
      keys.deliveries,
      streamCursors.format(after),
    ]);
    if (xreadEntries(reply, keys.deliveries).length === 0) return [];
    const through = await newestPosition(redis, keys);
    if (through === null) return [];
    const page = await readDeliveries(redis, keys, {
      bucketIds: null,
      afterPosition: after,
      throughPosition: through,
      maxRows,
      maxBytes: WAIT_PAGE_BYTES,
    });
    // Everything new belonged to deleted buckets: wait on from there rather than answer with nothing,
    // which would bring the caller back to the same entries.
    if (page.deliveries.length > 0 || block.length === 0) return page.deliveries;
    after = through;
  }
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
        [policy.receivedBefore ?? "", policy.keepNewest ?? "", limit, keys.dedupPrefix],
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
