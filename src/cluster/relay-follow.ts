/**
 * How an instance follows the shared delivery stream: XREAD waits for new entries and returns them, then one
 * pipelined round trip reads their bodies and their bucket and input names. No script runs: entries carry no
 * body (relay-bodies.ts), so reading them is cheap for Redis, while a read script cost it about 50 µs per
 * call, most of it Lua's own overhead, on every wake of every instance.
 *
 * What a wait returns is what the read script would: deliveries after the position, in stream order, with
 * their names as they are now, skipping deliveries of deleted buckets and those retention deleted meanwhile.
 *
 * Entries of this layout are a few hundred bytes. One written by an older instance still running (an upgrade
 * with both versions up, which the README advises against) carries its body inline, so a wait then holds up
 * to `maxRows` bodies of up to MAX_BODY_BYTES at once.
 */
import { z } from "zod";
import { streamCursors } from "../relay/cursor.ts";
import type { ReplayedDelivery } from "../relay/store.ts";
import type { Redis, RedisValue } from "./redis.ts";
import { bodyBytes, type Entry, entryOf, withBodies } from "./relay-bodies.ts";
import { type RedisKeys, replyArray, replyString, UnexpectedReplyError } from "./relay-keys.ts";
import { parseRecord } from "./relay-records.ts";

/** A wait stops at the delivery whose body brings its page to this many bytes (so it returns at least one). */
export const FOLLOW_PAGE_BYTES = 1024 * 1024;

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

/** The first entries up to the one whose body makes the page reach its bytes, as the read script cuts. */
function pageOf(entries: readonly Entry[]): Entry[] {
  let bytes = 0;
  const page: Entry[] = [];
  for (const entry of entries) {
    page.push(entry);
    bytes += bodyBytes(entry);
    if (bytes >= FOLLOW_PAGE_BYTES) break;
  }
  return page;
}

/** What the follow reads of a bucket or input record. */
const namedRecord = z.object({ name: z.string() });

/**
 * Names by id from one HMGET of a hash of JSON records; a missing record (deleted) maps to null, a malformed
 * one is an error, as every read of these records.
 */
async function namesById(redis: Redis, hash: string, ids: readonly string[]) {
  const records = replyArray(await redis.send("HMGET", [hash, ...ids]), `HMGET ${hash}`);
  const names = new Map<string, string | null>();
  ids.forEach((id, i) => {
    const record = records[i] ?? null;
    names.set(
      id,
      record === null ? null : parseRecord(namedRecord, replyString(record, `HMGET ${hash}`), hash).name,
    );
  });
  return names;
}

/** The page's deliveries with bodies and names, read in one round trip; skipped as the read script does. */
async function replayed(redis: Redis, keys: RedisKeys, page: readonly Entry[]) {
  const bucketIds = [...new Set(page.map((entry) => entry.fields.get("b") ?? ""))];
  const inputIds = [...new Set(page.map((entry) => entry.fields.get("i") ?? ""))];
  // All three are sent in this tick, so they travel together.
  const [bodies, buckets, inputs] = await Promise.all([
    withBodies(redis, keys, page),
    namesById(redis, keys.buckets, bucketIds),
    namesById(redis, keys.inputs, inputIds),
  ]);
  const deliveries: ReplayedDelivery[] = [];
  for (const delivery of bodies) {
    const bucketName = delivery === null ? null : buckets.get(delivery.bucketId);
    if (delivery === null || bucketName === null || bucketName === undefined) continue;
    deliveries.push({ ...delivery, bucketName, inputName: inputs.get(delivery.inputId) ?? "" });
  }
  return deliveries;
}

/** Deliveries after `afterPosition`, waiting up to `blockMs` on `connection` (a connection of its own). */
export async function waitForDeliveries(
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
    const reply = await connection.send("XREAD", [
      "COUNT",
      maxRows,
      ...block,
      "STREAMS",
      keys.deliveries,
      streamCursors.format(after),
    ]);
    const page = pageOf(xreadEntries(reply, keys.deliveries).map(entryOf));
    const last = page.at(-1);
    if (last === undefined) return [];
    const deliveries = await replayed(redis, keys, page);
    // Everything read belonged to deleted buckets: wait on from there rather than answer with nothing,
    // which would bring the caller back to the same entries.
    if (deliveries.length > 0 || block.length === 0) return deliveries;
    after = streamCursors.positionOf(last.id);
  }
}
