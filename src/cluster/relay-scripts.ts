/**
 * The Lua scripts of the Redis relay store. Every change that touches more than one key is one script, so it
 * is atomic however many instances write at once. Keys are passed in KEYS; keys derived from a bucket id
 * (its dedup hash) are built from a prefix in ARGV, which is fine on a single Redis (not Redis Cluster).
 *
 * Flags (Redis 7 shebang): `#!lua` alone refuses the whole script up front while Redis is over `maxmemory`,
 * so a write either happens entirely or not at all; deletions (which free memory) and in-place replacements
 * (a revocation) run with `allow-oom`; reads run with `no-writes`.
 *
 * Stream ids are handled as strings: Lua numbers print with 14 significant digits, so a position
 * (`ms * 1024 + seq`, 16 digits) would lose precision. Milliseconds (13 digits) convert exactly.
 */
import { luaScript } from "./redis.ts";

/** Shared helpers: fields of a stream entry, id comparison. */
const HELPERS = `
local function fieldsOf(list)
  local fields = {}
  for i = 1, #list, 2 do fields[list[i]] = list[i + 1] end
  return fields
end
local function idParts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function isLater(a, b)
  local am, as = idParts(a)
  local bm, bs = idParts(b)
  return am > bm or (am == bm and as > bs)
end
`;

/**
 * Appends a batch. KEYS: stream, last id, output-due. ARGV: seq limit, dedup key prefix, outputs key prefix,
 * attempts key prefix, attempt record lifetime (ms), then 10 values per delivery:
 * bucket, `=` + X-GitHub-Delivery (or empty), input, method, headers JSON, query, body base64, source address,
 * received at, the id of the delivery it replays (or empty). Returns one id per delivery, nil for a duplicate.
 *
 * Ids are chosen here, not by XADD `*`: ms = max(Redis time, last ms used), seq = last seq + 1 within the same
 * ms, and a seq that would reach the limit moves on to the next ms. The last id is kept in its own key, so it
 * survives a stream emptied by retention, and ids are never reused.
 *
 * Each delivery also gets a pending attempt, due at once, for every output of its bucket that hookstream
 * delivers, in the same script: an attempt exists exactly when its delivery does.
 */
export const APPEND_SCRIPT = luaScript(`#!lua
${HELPERS}
local stream, lastKey, due = KEYS[1], KEYS[2], KEYS[3]
local seqLimit = tonumber(ARGV[1])
local dedupPrefix = ARGV[2]
local outputsPrefix, attemptsPrefix, attemptTtl = ARGV[3], ARGV[4], ARGV[5]
local last = redis.call('GET', lastKey)
if not last then
  local top = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  if top then last = top[1] end
end
local ms, seq = -1, -1
if last then ms, seq = idParts(last) end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local results = {}
local added = false
for first = 6, #ARGV, 10 do
  local bucket, guid = ARGV[first], ARGV[first + 1]
  local dedup = dedupPrefix .. bucket
  local hasGuid = guid ~= ''
  if hasGuid then guid = string.sub(guid, 2) end
  if hasGuid and redis.call('HEXISTS', dedup, guid) == 1 then
    results[#results + 1] = false
  else
    if now > ms then
      ms, seq = now, 0
    else
      seq = seq + 1
      if seq >= seqLimit then ms, seq = ms + 1, 0 end
    end
    local id = string.format('%d-%d', ms, seq)
    local fields = {
      'b', bucket, 'i', ARGV[first + 2], 'm', ARGV[first + 3], 'h', ARGV[first + 4], 'q', ARGV[first + 5],
      'd', ARGV[first + 6], 's', ARGV[first + 7], 't', ARGV[first + 8],
    }
    if hasGuid then
      fields[#fields + 1] = 'g'
      fields[#fields + 1] = guid
    end
    if ARGV[first + 9] ~= '' then
      fields[#fields + 1] = 'r'
      fields[#fields + 1] = ARGV[first + 9]
    end
    redis.call('XADD', stream, id, unpack(fields))
    if hasGuid then redis.call('HSET', dedup, guid, id) end
    for _, json in ipairs(redis.call('HVALS', outputsPrefix .. bucket)) do
      local output = cjson.decode(json)
      if output.deliveredBy == 'hookstream' then
        local attempt = cjson.encode({
          deliveryId = id, outputId = output.id, outputName = output.name, destination = output.destination,
          state = 'pending', attempts = 0, nextAt = now, status = cjson.null, error = cjson.null,
          responseBody = '', updatedAt = now,
        })
        redis.call('HSET', attemptsPrefix .. id, output.id, attempt)
        redis.call('PEXPIRE', attemptsPrefix .. id, attemptTtl)
        redis.call('ZADD', due, now, id .. '/' .. output.id)
      end
    end
    results[#results + 1] = id
    added = true
  end
end
if added then redis.call('SET', lastKey, string.format('%d-%d', ms, seq)) end
return results
`);

/**
 * Retention. KEYS: stream, pruned-through hash, buckets hash. ARGV: received-before ms (empty: off), keep
 * newest (empty: off), limit, dedup key prefix. Deletes the oldest entries while they are older than the cut-off
 * or beyond the newest kept (a prefix of the stream, so store order), at most `limit`; removes their dedup
 * keys and raises, per still existing bucket, the highest deleted id. Returns how many it deleted.
 */
export const PRUNE_SCRIPT = luaScript(`#!lua flags=allow-oom
${HELPERS}
local stream, floors, buckets = KEYS[1], KEYS[2], KEYS[3]
local before = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local dedupPrefix = ARGV[4]
local page = 64
local excess = 0
if keep then excess = redis.call('XLEN', stream) - keep end
local deleted, last = 0, nil
local floorOf = {}
local start = '-'
local more = true
while more and deleted < limit do
  local count = math.min(page, limit - deleted)
  local entries = redis.call('XRANGE', stream, start, '+', 'COUNT', count)
  if #entries < count then more = false end
  for _, entry in ipairs(entries) do
    local id, fields = entry[1], fieldsOf(entry[2])
    if not (deleted < excess or (before and tonumber(fields.t) < before)) then
      more = false
      break
    end
    deleted = deleted + 1
    last = id
    floorOf[fields.b] = id
    if fields.g then
      local dedup = dedupPrefix .. fields.b
      if redis.call('HGET', dedup, fields.g) == id then redis.call('HDEL', dedup, fields.g) end
    end
  end
  if last then start = '(' .. last end
end
if last then
  local ms, seq = string.match(last, '^(%d+)-(%d+)$')
  redis.call('XTRIM', stream, 'MINID', ms .. '-' .. (tonumber(seq) + 1))
end
for bucket, id in pairs(floorOf) do
  if redis.call('HEXISTS', buckets, bucket) == 1 then redis.call('HSET', floors, bucket, id) end
end
return deleted
`);

/**
 * One bucket's entries, forwards or backwards, matched inside Redis so only that bucket's bodies travel.
 * KEYS: stream. ARGV: `forward` or `backward`, exclusive start id (or '' for the stream's end), bucket id,
 * max rows, entries to scan at most. Returns { { id, fields }..., } and the id to continue after ('' when the
 * stream's end was reached).
 */
export const BUCKET_SCAN_SCRIPT = luaScript(`#!lua flags=no-writes
${HELPERS}
local stream = KEYS[1]
local forward = ARGV[1] == 'forward'
local start, bucket = ARGV[2], ARGV[3]
local maxRows, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local page = 128
local out, scanned, last = {}, 0, nil
while #out < maxRows and scanned < budget do
  local from = start == '' and (forward and '-' or '+') or ('(' .. start)
  local count = math.min(page, budget - scanned)
  local entries
  if forward then
    entries = redis.call('XRANGE', stream, from, '+', 'COUNT', count)
  else
    entries = redis.call('XREVRANGE', stream, from, '-', 'COUNT', count)
  end
  for _, entry in ipairs(entries) do
    scanned = scanned + 1
    start = entry[1]
    if fieldsOf(entry[2]).b == bucket then
      out[#out + 1] = entry
      if #out == maxRows then break end
    end
  end
  if #entries < count then return { out, '' } end
end
return { out, start }
`);

/**
 * A page for a reader, and the retention floor of its buckets in the same snapshot. KEYS: stream, pruned-through
 * hash, buckets hash, inputs hash. ARGV: start (`(` + id after which to read), last id to read, max rows, max
 * body bytes, entries to scan at most, `all` or `some` followed by bucket ids.
 *
 * Returns { floor id or '', id to continue scanning after or '', { { id, fields, bucket name, input name } } }.
 * Entries of deleted buckets are skipped. The scan stops after the max rows, once the bodies reach max bytes
 * (after at least one row), or after scanning the allowed number of entries: then the second value says where
 * to continue, so one call never blocks Redis for long whatever the range.
 */
export const READ_SCRIPT = luaScript(`#!lua flags=no-writes
${HELPERS}
local stream, floors, buckets, inputs = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local start, through = ARGV[1], ARGV[2]
local maxRows, maxBytes, budget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local page = 128
local wanted = nil
local floor = ''
local function raise(id)
  if id and (floor == '' or isLater(id, floor)) then floor = id end
end
if ARGV[6] == 'some' then
  wanted = {}
  for i = 7, #ARGV do
    wanted[ARGV[i]] = true
    raise(redis.call('HGET', floors, ARGV[i]))
  end
else
  for _, id in ipairs(redis.call('HVALS', floors)) do raise(id) end
end
local bucketNames, inputNames = {}, {}
local function bucketName(id)
  local name = bucketNames[id]
  if name == nil then
    local json = redis.call('HGET', buckets, id)
    name = json and cjson.decode(json).name or false
    bucketNames[id] = name
  end
  return name
end
local function inputName(id)
  local name = inputNames[id]
  if name == nil then
    local json = redis.call('HGET', inputs, id)
    name = json and cjson.decode(json).name or ''
    inputNames[id] = name
  end
  return name
end
local function bodyBytes(base64)
  local padding = 0
  if string.sub(base64, -2) == '==' then padding = 2 elseif string.sub(base64, -1) == '=' then padding = 1 end
  return #base64 / 4 * 3 - padding
end
local out = {}
local bytes, scanned, resume = 0, 0, ''
local full = false
while not full do
  if scanned >= budget then
    resume = string.sub(start, 2)
    break
  end
  local count = math.min(page, budget - scanned)
  local entries = redis.call('XRANGE', stream, start, through, 'COUNT', count)
  for _, entry in ipairs(entries) do
    scanned = scanned + 1
    local fields = fieldsOf(entry[2])
    if wanted == nil or wanted[fields.b] then
      local name = bucketName(fields.b)
      if name then
        out[#out + 1] = { entry[1], entry[2], name, inputName(fields.i) }
        bytes = bytes + bodyBytes(fields.d)
        if #out >= maxRows or bytes >= maxBytes then
          full = true
          break
        end
      end
    end
  end
  if #entries < count then break end
  start = '(' .. entries[#entries][1]
end
return { floor, resume, out }
`);

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
