/**
 * Delivery bodies in Redis live in keys of their own beside the shared stream, not in its entries. Every
 * change that touches several keys is a Lua script (relay-scripts.ts), and a script copies whatever it is
 * given or reads into Lua and out again: with bodies in the entries, the append and read scripts took about
 * 120 of the 160 µs Redis spent per 7 KB webhook, several times the XADD and XRANGE inside them (10 µs
 * each). So scripts handle entries of a few hundred bytes, and bodies travel by plain SET and GET, which
 * Redis serves without copying them through Lua.
 *
 * Appending: each body is first staged under a key of its own with a short lifetime, sent on the same
 * connection just before the append script, which checks that every staged body exists, renames each
 * appended one to `<body prefix><stream id>` and makes it permanent, and deletes a duplicate's. A body
 * whose script never ran (the connection lost between them) expires by itself.
 *
 * Reading: entries name no body key; it follows from the stream id. Retention deletes the body with its
 * entry, so a body missing after its entry was read means retention deleted that delivery in between.
 * Entries written before bodies had keys of their own still carry theirs inline (field `d`), base64.
 *
 * Body keys hold the bytes as they are: no base64 to encode on the way in and decode on the way out, and a
 * quarter less to send, store and write to the AOF.
 */

import type { StoredDelivery } from "../relay/store.ts";
import type { Redis, RedisValue } from "./redis.ts";
import {
  type RedisKeys,
  replyArray,
  replyString,
  replyStrings,
  UnexpectedReplyError,
  writing,
} from "./relay-keys.ts";

/** How long a staged body waits for its append script; the script runs right after it on one connection. */
export const STAGED_BODY_TTL_MS = 60_000;

/** Makes staged body keys unique across instances: a random prefix per process, then a counter. */
const stagingPrefix = crypto.randomUUID().slice(0, 13);
let stagedCount = 0;

export interface StagedBodies {
  /** One token per body, in order, for the append script (which prefixes it with `keys.stagedPrefix`). */
  tokens: string[];
  /** Settles once Redis stored every staged body; rejects with `StorageFullError` when Redis is full. */
  stored: Promise<unknown>;
}

/**
 * Sends one SET per body, all in this tick, so a command sent right after follows them on the connection.
 * `stored` must be awaited (with the command after) so a refused SET is reported.
 */
export function stageBodies(redis: Redis, keys: RedisKeys, bodies: readonly Uint8Array[]): StagedBodies {
  const tokens = bodies.map(() => `${stagingPrefix}.${(stagedCount++).toString(36)}`);
  const sets = bodies.map((body, i) =>
    writing(redis.send("SET", [`${keys.stagedPrefix}${tokens[i]}`, body, "PX", STAGED_BODY_TTL_MS])),
  );
  return { tokens, stored: Promise.all(sets) };
}

/** A stream entry with its fields by name. */
export interface Entry {
  id: string;
  fields: Map<string, string>;
  flat: string[];
}

export function entryOf(value: RedisValue): Entry {
  const [id, list] = replyArray(value, "stream entry");
  const flat = replyStrings(list ?? null, "stream entry fields");
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
  return { id: replyString(id ?? null, "stream entry id"), fields, flat };
}

function deliveryOf({ id, fields, flat }: Entry, body: Uint8Array): StoredDelivery {
  const field = (name: string) => {
    const value = fields.get(name);
    if (value === undefined) throw new UnexpectedReplyError(`stream entry field ${name}`, flat);
    return value;
  };
  return {
    id,
    bucketId: field("b"),
    inputId: field("i"),
    githubDelivery: fields.get("g") ?? null,
    method: field("m"),
    headers: JSON.parse(field("h")) as Record<string, string[]>,
    query: field("q"),
    body,
    sourceAddress: field("s"),
    receivedAt: Number(field("t")),
    ...(fields.has("r") ? { replayOf: fields.get("r") as string } : {}),
  };
}

/** The body's size in bytes, from its entry (inline bodies are base64). */
export function bodyBytes(entry: Entry): number {
  const inline = entry.fields.get("d");
  if (inline === undefined) return Number(entry.fields.get("n") ?? 0);
  return Buffer.byteLength(inline, "base64");
}

/**
 * Stream entries (`[id, [field, value, ...]]`) as stored deliveries, with their bodies read in one round trip.
 * null where the body is gone: retention deleted that delivery after its entry was read.
 */
export async function deliveriesOf(
  redis: Redis,
  keys: RedisKeys,
  values: readonly RedisValue[],
): Promise<(StoredDelivery | null)[]> {
  return withBodies(redis, keys, values.map(entryOf));
}

/** `deliveriesOf` for entries already parsed. */
export async function withBodies(
  redis: Redis,
  keys: RedisKeys,
  entries: readonly Entry[],
): Promise<(StoredDelivery | null)[]> {
  // One GET per body, all sent in this tick, so they travel together.
  const bodies = await Promise.all(
    entries.map((entry) => {
      const inline = entry.fields.get("d");
      if (inline !== undefined) return new Uint8Array(Buffer.from(inline, "base64"));
      return redis.getBytes(`${keys.bodyPrefix}${entry.id}`);
    }),
  );
  return entries.map((entry, i) => {
    const body = bodies[i] ?? null;
    return body === null ? null : deliveryOf(entry, body);
  });
}
