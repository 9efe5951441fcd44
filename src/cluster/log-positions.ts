/**
 * The writer's follower positions as stored in Redis (`logs:positions`): what a new writer continues from,
 * and the change set each committed batch writes.
 *
 * A file's identity is `<device>:<inode>`. The device number of one shared directory differs between hosts
 * (each mount gets its own), its inode numbers do not: files on the directory's own device are stored by inode
 * alone and read back with the local device, so positions survive a writer on another host.
 */
import { statSync } from "node:fs";
import { z } from "zod";
import type { PositionStore, SavedPosition } from "../logs/positions.ts";
import type { RedisValue } from "./redis.ts";

const storedPositionSchema = z.object({ path: z.string(), offset: z.number().int().nonnegative() });

/**
 * A field of the positions hash that names no file: committed by every writer term from its first pass on,
 * so the next term knows it takes over from a writer (files it does not know appeared since, and are read
 * from their start) even when that writer followed no file at all.
 */
export const FOLLOWED_FIELD = "followed";

export interface PositionCodec {
  /** Redis field of a local identity. */
  field(identity: string): string;
  /** Local identity of a Redis field. */
  identity(field: string): string;
}

/** The codec for `dir`, which must exist (the writer reads it when it takes the lease). */
export function createPositionCodec(dir: string): PositionCodec {
  const prefix = `${statSync(dir).dev}:`;
  return {
    field: (identity) => (identity.startsWith(prefix) ? identity.slice(prefix.length) : identity),
    identity: (field) => (field.includes(":") ? field : `${prefix}${field}`),
  };
}

/** HGETALL's answer (a map with RESP3, a flat list with RESP2) as field → value. */
export function hashEntries(reply: RedisValue): Array<[string, string]> {
  if (reply === null || typeof reply !== "object") return [];
  if (Array.isArray(reply)) {
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i + 1 < reply.length; i += 2) pairs.push([String(reply[i]), String(reply[i + 1])]);
    return pairs;
  }
  return Object.entries(reply).map(([field, value]) => [field, String(value)]);
}

/** Decodes HGETALL of the positions hash; unreadable fields are skipped with a warning. */
export function decodePositions(
  reply: RedisValue,
  codec: PositionCodec,
  log: (level: "warn", message: string) => void,
): Map<string, SavedPosition> {
  const positions = new Map<string, SavedPosition>();
  for (const [field, value] of hashEntries(reply)) {
    if (field === FOLLOWED_FIELD) continue;
    const parsed = storedPositionSchema.safeParse(parseJson(value));
    if (!parsed.success) {
      log("warn", `ignoring unreadable shared follower position ${field}: ${value.slice(0, 200)}`);
      continue;
    }
    const identity = codec.identity(field);
    positions.set(identity, { identity, ...parsed.data });
  }
  return positions;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function encodePosition(position: SavedPosition): string {
  return JSON.stringify({ path: position.path, offset: position.offset });
}

/** Fields to set and to delete so that Redis, holding `committed`, holds `next`. */
export function positionChanges(
  committed: ReadonlyMap<string, string>,
  next: ReadonlyMap<string, string>,
): { set: Array<[string, string]>; remove: string[] } {
  const set: Array<[string, string]> = [];
  for (const [field, value] of next) if (committed.get(field) !== value) set.push([field, value]);
  const remove = [...committed.keys()].filter((field) => !next.has(field));
  return { set, remove };
}

/** A follower's PositionStore over positions already read from Redis; the writer commits them itself. */
export function sharedPositionStore(positions: Map<string, SavedPosition>): PositionStore {
  return { load: () => positions, save() {} };
}
