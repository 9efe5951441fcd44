/**
 * Reading the delivery stream: pages for readers that resume or catch up (`readDeliveries`), and the live
 * follow every instance publishes from (`waitForDeliveries`).
 *
 * Bodies are read with plain XRANGE and XREAD, filtered here, not in a Lua script: a script's XRANGE copies
 * every body into Lua and out again, which cost about seven times the command itself (a page of 12 deliveries
 * of 7 KB: 222 µs of Redis CPU in a script doing only the XRANGE, 35 µs for the XRANGE alone). What must be
 * read in the same snapshot as the entries (the retention floors, the version counter the names depend on)
 * is read in the same MULTI/EXEC; names come from a cache checked against that counter (relay-names.ts).
 *
 * Stream entries never change once added, ids only grow (the append script picks them), and retention only
 * deletes the oldest entries, in order, raising the floor of each bucket it deleted from in the same script.
 */
import { streamCursors } from "../relay/cursor.ts";
import type { DeliveryPage, DeliveryRead, ReplayedDelivery, StoredDelivery } from "../relay/store.ts";
import type { BlockingConnection } from "./blocking-connection.ts";
import { type Redis, type RedisValue, transaction } from "./redis.ts";
import { type RedisKeys, replyArray, replyString, replyStrings, UnexpectedReplyError } from "./relay-keys.ts";
import { createNameCache } from "./relay-names.ts";

/**
 * Entries one command reads at most, whatever the bytes: it bounds how long one read keeps Redis busy (the
 * scan budget) and how many bodies a read holds when they suddenly grow past what the last read saw.
 */
const READ_BATCH_ROWS = 128;

/** What one body is taken to weigh before any was read: sizes the first read's batch. */
const FIRST_BODY_GUESS_BYTES = 64 * 1024;

/** Body bytes one wait for deliveries returns at most (but always at least one delivery). */
export const WAIT_PAGE_BYTES = 1024 * 1024;

/** A stream entry with its fields by name. */
interface Entry {
  id: string;
  fields: Map<string, string>;
}

function parseEntry(entry: RedisValue): Entry {
  const [id, list] = replyArray(entry, "stream entry");
  const flat = replyStrings(list ?? null, "stream entry fields");
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
  return { id: replyString(id ?? null, "stream entry id"), fields };
}

function field(entry: Entry, name: string): string {
  const value = entry.fields.get(name);
  if (value === undefined) throw new UnexpectedReplyError(`stream entry field ${name}`, entry.id);
  return value;
}

/** The decoded size of an entry's base64 body, without decoding it. */
function bodyBytes(entry: Entry): number {
  const base64 = field(entry, "d");
  const padding = base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0;
  return (base64.length / 4) * 3 - padding;
}

function deliveryOf(entry: Entry): StoredDelivery {
  const replayOf = entry.fields.get("r");
  return {
    id: entry.id,
    bucketId: field(entry, "b"),
    inputId: field(entry, "i"),
    githubDelivery: entry.fields.get("g") ?? null,
    method: field(entry, "m"),
    headers: JSON.parse(field(entry, "h")) as Record<string, string[]>,
    query: field(entry, "q"),
    body: new Uint8Array(Buffer.from(field(entry, "d"), "base64")),
    sourceAddress: field(entry, "s"),
    receivedAt: Number(field(entry, "t")),
    ...(replayOf === undefined ? {} : { replayOf }),
  };
}

/** A stream entry (`[id, [field, value, ...]]`) as a stored delivery. */
export const toDelivery = (entry: RedisValue): StoredDelivery => deliveryOf(parseEntry(entry));

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

/** The highest of the floors (stream ids, or null for a bucket without one) as a position; 0 for none. */
function highestFloor(floors: RedisValue): number {
  let highest = 0;
  for (const id of replyArray(floors, "floors"))
    if (id !== null) highest = Math.max(highest, streamCursors.positionOf(replyString(id, "floor")));
  return highest;
}

export interface StreamReads {
  readDeliveries(read: DeliveryRead): Promise<DeliveryPage>;
  waitForDeliveries(afterPosition: number, blockMs: number, maxRows: number): Promise<ReplayedDelivery[]>;
}

export function createStreamReads(redis: Redis, keys: RedisKeys, blocking: BlockingConnection): StreamReads {
  const names = createNameCache(redis, keys);
  /** The largest body of the last batch read: how many entries the next batch asks for to fill its bytes. */
  let bodyEstimate = FIRST_BODY_GUESS_BYTES;

  /** How many entries to ask for: enough to reach the bytes left by the estimate, within the rows left. */
  const batchRows = (rowsLeft: number, bytesLeft: number) =>
    Math.max(1, Math.min(rowsLeft, READ_BATCH_ROWS, Math.ceil(bytesLeft / Math.max(bodyEstimate, 1))));

  /**
   * The batch's entries of `wanted` buckets (null: all) that still exist, as replayed deliveries, with the
   * names as of the version counter read with them; stops once `rows` or `bytes` are reached.
   */
  const replayed = async (
    entries: Entry[],
    version: RedisValue,
    wanted: ReadonlySet<string> | null,
    limits: { rows: number; bytes: number },
  ) => {
    if (entries.length > 0) bodyEstimate = Math.max(...entries.map(bodyBytes));
    const kept = wanted === null ? entries : entries.filter((entry) => wanted.has(field(entry, "b")));
    const named = await names.names(
      version,
      kept.map((entry) => field(entry, "b")),
      kept.map((entry) => field(entry, "i")),
    );
    const out: ReplayedDelivery[] = [];
    let bytes = 0;
    for (const entry of kept) {
      const bucketName = named.bucket(field(entry, "b"));
      // A deleted bucket's entries stay until retention reaches them; no read returns them.
      if (bucketName === null) continue;
      out.push({ ...deliveryOf(entry), bucketName, inputName: named.input(field(entry, "i")) });
      bytes += bodyBytes(entry);
      if (out.length >= limits.rows || bytes >= limits.bytes) break;
    }
    return { deliveries: out, bytes };
  };

  async function readDeliveries(read: DeliveryRead): Promise<DeliveryPage> {
    if (read.bucketIds?.length === 0) return { deliveries: [], prunedThrough: 0 };
    const wanted = read.bucketIds === null ? null : new Set(read.bucketIds);
    const floors =
      wanted === null
        ? (["HVALS", [keys.prunedThrough]] as const)
        : (["HMGET", [keys.prunedThrough, ...wanted]] as const);
    const through = streamCursors.format(read.throughPosition);
    let after = streamCursors.format(read.afterPosition);
    const deliveries: ReplayedDelivery[] = [];
    let bytes = 0;
    let floor: number | null = null;
    // A page may take several batches, each one MULTI: the floor, the version counter and the entries in one
    // snapshot. Nothing is ever added inside the range (new ids are later than `through`), so two batches
    // differ only by what retention deleted between them, and any deletion of these buckets' entries raises
    // their highest floor (it is the latest id deleted of them, and deletions go in id order). So:
    // - the floor unchanged: nothing of these buckets was deleted between the batches, and the batches
    //   together read exactly what the first one's snapshot held;
    // - the floor raised with rows already read: the page ends before this batch, exact with the old floor
    //   (the next read starts after its last row);
    // - the floor raised with nothing found yet: whatever was deleted of these buckets before `after` was
    //   never part of this read, and what was deleted after it is behind the new floor, which the page
    //   reports with this batch, as one snapshot (the same argument the read script made between its calls).
    for (;;) {
      const rowsLeft = wanted === null ? read.maxRows - deliveries.length : READ_BATCH_ROWS;
      const count = batchRows(rowsLeft, read.maxBytes - bytes);
      const [floorReply, version, range] = await transaction(redis, [
        floors,
        ["GET", [keys.version]],
        ["XRANGE", [keys.deliveries, `(${after}`, through, "COUNT", count]],
      ]);
      const batchFloor = highestFloor(floorReply ?? null);
      if (floor !== null && batchFloor !== floor && deliveries.length > 0) break;
      floor = batchFloor;
      const entries = replyArray(range ?? null, "read").map(parseEntry);
      const batch = await replayed(entries, version ?? null, wanted, {
        rows: read.maxRows - deliveries.length,
        bytes: read.maxBytes - bytes,
      });
      deliveries.push(...batch.deliveries);
      bytes += batch.bytes;
      const last = entries.at(-1);
      if (deliveries.length >= read.maxRows || bytes >= read.maxBytes || entries.length < count || !last)
        break;
      after = last.id;
    }
    return { deliveries, prunedThrough: floor ?? 0 };
  }

  async function waitForDeliveries(afterPosition: number, blockMs: number, maxRows: number) {
    const connection = await blocking.get();
    const deadline = Date.now() + blockMs;
    let after = streamCursors.format(afterPosition);
    for (;;) {
      const remaining = deadline - Date.now();
      // XREAD BLOCK 0 would wait forever: once the time is up, one more read that does not block.
      const block = remaining >= 1 ? ["BLOCK", Math.ceil(remaining)] : [];
      // The version counter is sent right behind the XREAD on the same connection, so Redis reads it once
      // the XREAD answered: the names are then never older than the entries. The live follower needs no
      // floor: it reads every bucket from where it is, whatever retention did before.
      const [reply, version] = await Promise.all([
        connection.send("XREAD", [
          "COUNT",
          batchRows(maxRows, WAIT_PAGE_BYTES),
          ...block,
          "STREAMS",
          keys.deliveries,
          after,
        ]),
        connection.send("GET", [keys.version]),
      ]);
      const entries = xreadEntries(reply, keys.deliveries).map(parseEntry);
      const last = entries.at(-1);
      if (last === undefined) return [];
      const page = await replayed(entries, version, null, { rows: maxRows, bytes: WAIT_PAGE_BYTES });
      // Everything new belonged to deleted buckets: wait on from there rather than answer with nothing,
      // which would bring the caller back to the same entries.
      if (page.deliveries.length > 0 || block.length === 0) return page.deliveries;
      after = last.id;
    }
  }

  return { readDeliveries, waitForDeliveries };
}
