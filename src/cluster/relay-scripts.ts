/**
 * The Lua scripts of the Redis relay store's delivery stream: append, prune, scan and read (the scripts that
 * change buckets, inputs, outputs, attempts and tokens are in relay-record-scripts.ts). Every change that
 * touches more than one key is one script, so it is atomic however many instances write at once. Keys are
 * passed in KEYS; keys derived from a bucket id (its dedup hash) are built from a prefix in ARGV, which is fine
 * on a single Redis (not Redis Cluster).
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
 * attempts key prefix, attempt record lifetime (ms), staged body key prefix, body key prefix, then 11 values
 * per delivery: bucket, `=` + X-GitHub-Delivery (or empty), input, method, headers JSON, query, staged body
 * token, body length in bytes, source address, received at, the id of the delivery it replays (or empty).
 * Returns one id per delivery, nil for a duplicate; an error starting BODYLOST, with nothing written, when a
 * staged body is gone.
 *
 * Bodies never pass through this script (see relay-bodies.ts): each was staged under its own key just
 * before; an appended one is renamed to its body key and made permanent, a duplicate's is deleted.
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
local stagedPrefix, bodyPrefix = ARGV[6], ARGV[7]
local perDelivery = 11
for first = 8, #ARGV, perDelivery do
  if redis.call('EXISTS', stagedPrefix .. ARGV[first + 6]) == 0 then
    return redis.error_reply('BODYLOST a body staged for this append is gone')
  end
end
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
for first = 8, #ARGV, perDelivery do
  local bucket, guid = ARGV[first], ARGV[first + 1]
  local staged = stagedPrefix .. ARGV[first + 6]
  local dedup = dedupPrefix .. bucket
  local hasGuid = guid ~= ''
  if hasGuid then guid = string.sub(guid, 2) end
  if hasGuid and redis.call('HEXISTS', dedup, guid) == 1 then
    redis.call('DEL', staged)
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
      'n', ARGV[first + 7], 's', ARGV[first + 8], 't', ARGV[first + 9],
    }
    if hasGuid then
      fields[#fields + 1] = 'g'
      fields[#fields + 1] = guid
    end
    if ARGV[first + 10] ~= '' then
      fields[#fields + 1] = 'r'
      fields[#fields + 1] = ARGV[first + 10]
    end
    redis.call('XADD', stream, id, unpack(fields))
    redis.call('RENAME', staged, bodyPrefix .. id)
    redis.call('PERSIST', bodyPrefix .. id)
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
 * newest (empty: off), limit, dedup key prefix, body key prefix. Deletes the oldest entries while they are
 * older than the cut-off or beyond the newest kept (a prefix of the stream, so store order), at most `limit`;
 * removes their bodies (UNLINK: a large body is freed off the main thread) and dedup keys, and raises, per
 * still existing bucket, the highest deleted id. Returns how many it deleted.
 */
export const PRUNE_SCRIPT = luaScript(`#!lua flags=allow-oom
${HELPERS}
local stream, floors, buckets = KEYS[1], KEYS[2], KEYS[3]
local before = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local dedupPrefix, bodyPrefix = ARGV[4], ARGV[5]
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
    if not fields.d then redis.call('UNLINK', bodyPrefix .. id) end
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
 * Returns { floor id or '', id to continue scanning after or '', { { id, fields, bucket name, input name } } };
 * the bodies are read after it (relay-bodies.ts).
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
-- Entries written in layout 1 carry their body inline, base64, and no length.
local function inlineBodyBytes(base64)
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
        bytes = bytes + (fields.n and tonumber(fields.n) or inlineBodyBytes(fields.d))
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
