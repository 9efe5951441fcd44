/**
 * The Lua scripts that change the Redis relay store's records: buckets, inputs, outputs, output attempts and
 * tokens. Each is one script so that it is atomic across instances; the flags follow the rule in
 * relay-scripts.ts (`allow-oom` only for deletions and in-place replacements).
 */
import { luaScript } from "./redis.ts";

/**
 * Creates a bucket with its first input. KEYS: buckets, bucket names, inputs, the bucket's input set, version.
 * ARGV: bucket id, name, bucket JSON, input id, input JSON. Returns 0 when the name is taken.
 */
export const CREATE_BUCKET_SCRIPT = luaScript(`#!lua
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
redis.call('SADD', KEYS[4], ARGV[4])
redis.call('INCR', KEYS[5])
return 1
`);

/**
 * Adds an input to an existing bucket. KEYS: buckets, inputs, the bucket's input set, version. ARGV: bucket id,
 * input id, input JSON. Returns 0 when the bucket does not exist.
 */
export const ADD_INPUT_SCRIPT = luaScript(`#!lua
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('INCR', KEYS[4])
return 1
`);

/**
 * Deletes a bucket, its inputs, its retention floor and its dedup keys. Its stream entries stay until retention
 * reaches them; every reader skips entries of buckets that no longer exist. KEYS: buckets, bucket names,
 * inputs, the bucket's input set, pruned-through hash, the bucket's dedup hash, version, the bucket's outputs
 * (its pending attempts are cancelled when claimed). ARGV: bucket id.
 * Returns 0 when it did not exist.
 */
export const DELETE_BUCKET_SCRIPT = luaScript(`#!lua flags=allow-oom
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return 0 end
local name = cjson.decode(json).name
if redis.call('HGET', KEYS[2], name) == ARGV[1] then redis.call('HDEL', KEYS[2], name) end
for _, input in ipairs(redis.call('SMEMBERS', KEYS[4])) do redis.call('HDEL', KEYS[3], input) end
redis.call('DEL', KEYS[4], KEYS[6], KEYS[8])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('INCR', KEYS[7])
return 1
`);

/**
 * Adds an output. KEYS: buckets, the bucket's outputs, version. ARGV: bucket id, output id, name, output JSON.
 * Returns -1 when the bucket does not exist, 0 when the name is taken, 1 when added.
 */
export const CREATE_OUTPUT_SCRIPT = luaScript(`#!lua
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
for _, json in ipairs(redis.call('HVALS', KEYS[2])) do
  if cjson.decode(json).name == ARGV[3] then return 0 end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
redis.call('INCR', KEYS[3])
return 1
`);

/** Deletes an output by id or name. KEYS: the bucket's outputs, version. ARGV: id or name. Returns 0 or 1. */
export const DELETE_OUTPUT_SCRIPT = luaScript(`#!lua flags=allow-oom
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] == ARGV[1] or cjson.decode(all[i + 1]).name == ARGV[1] then
    redis.call('HDEL', KEYS[1], all[i])
    redis.call('INCR', KEYS[2])
    return 1
  end
end
return 0
`);

/**
 * Leases due attempts. KEYS: output-due. ARGV: now, lease ms, limit. Returns the members (`<stream id>/<output
 * id>`) it moved to now + lease, oldest due first.
 */
export const CLAIM_ATTEMPTS_SCRIPT = luaScript(`#!lua
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local leased = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, member in ipairs(members) do redis.call('ZADD', KEYS[1], leased, member) end
return members
`);

/**
 * Stores an attempt's new state. KEYS: the delivery's attempts, output-due. ARGV: output id, attempt JSON,
 * due member, next due ms (empty: settled, no longer due), record lifetime ms. Does nothing when the record is
 * gone (expired or never created).
 */
export const RECORD_ATTEMPT_SCRIPT = luaScript(`#!lua flags=allow-oom
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[3])
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if ARGV[4] == '' then redis.call('ZREM', KEYS[2], ARGV[3]) else redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3]) end
return 1
`);

/**
 * Compare-and-set of one hash field, for read-modify-write changes (an input's settings, a token's
 * revocation). KEYS: hash, version. ARGV: field, the value read, the new value. Returns 1 when set, 0 when the
 * value changed meanwhile (read again), -1 when the field is gone. Allowed when Redis is full: revoking a
 * token must work then too, and a record replaced by one of about its size costs next to nothing.
 */
export const REPLACE_FIELD_SCRIPT = luaScript(`#!lua flags=allow-oom
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return -1 end
if current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('INCR', KEYS[2])
return 1
`);

/**
 * Stores a new token under its key. KEYS: tokens, version. ARGV: key, token JSON. Returns 0 when the key
 * exists.
 */
export const CREATE_TOKEN_SCRIPT = luaScript(`#!lua
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('INCR', KEYS[2])
return 1
`);
