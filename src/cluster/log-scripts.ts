/**
 * The shared log stream's keys and the Lua scripts that change them. Each script is one atomic step, so a
 * batch of entries, the cluster seqs it takes and the follower positions it reaches are stored together or
 * not at all.
 *
 * Layout under the prefix:
 * - `logs`            stream; one stream entry per append script, id `<seq>-0` (the cluster seq of its last log
 *                     entry), fields `ep` (epoch), `n` (how many log entries), `m` ("1" when the appending
 *                     instance masked secrets), `p` ("1" when each is serializeEntry's JSON of an entry, which
 *                     a mirror then need not parse) and `e` (their JSON, no cursor, joined by newlines:
 *                     log-batch.ts), so it holds seqs `seq - n + 1` to `seq`. An entry without `n` (an earlier
 *                     version wrote one log entry per stream entry) holds one. Trimmed with `MINID ~` by seq,
 *                     so it keeps about maxlen log entries whatever the batch sizes.
 * - `logs:seq`        the last seq handed out (INCRBY per batch, dense).
 * - `logs:epoch`      8 hex digits; created with the stream. A new epoch (Redis lost its data) starts a new
 *                     history: journals reset and old cursors are reported as unknown.
 * - `logs:writer`     the writer's lease (lease.ts): `<instance id>/<token>`, PX. A fresh token per acquisition
 *                     fences off a writer that lost the lease, even if it would renew the same key later.
 * - `logs:positions`  hash: file identity → `{"path","offset"}`, where the writer continues after the last
 *                     committed batch; and `followed` → "1" once a writer term committed (the next one takes
 *                     over: files the hash does not name are read from their start).
 * - `logs:directory`  "1"/"0": whether the writer sees the log directory (for instances that cannot).
 * - `logs:batch:<instance id>` the id of the last relayed batch that instance appended (PX, renewed by every
 *                     batch), so a retry after a lost reply is a no-op: an instance sends its batches one at a
 *                     time, each until it is confirmed, so only its last one can come again.
 * - `logs:batch:<lease value>` the id of the last batch a writer term appended: a batch sent before its
 *                     predecessor was confirmed names that predecessor and is applied only right after it.
 */
import { joinEntries } from "./log-batch.ts";
import { luaScript } from "./redis.ts";

export interface LogKeys {
  stream: string;
  seq: string;
  epoch: string;
  writer: string;
  positions: string;
  directory: string;
  /** The batch marker of one instance. */
  batch(instanceId: string): string;
}

export function logKeys(prefix: string): LogKeys {
  return {
    stream: `${prefix}logs`,
    seq: `${prefix}logs:seq`,
    epoch: `${prefix}logs:epoch`,
    writer: `${prefix}logs:writer`,
    positions: `${prefix}logs:positions`,
    directory: `${prefix}logs:directory`,
    batch: (instanceId) => `${prefix}logs:batch:${instanceId}`,
  };
}

/**
 * Shared by the scripts below: the epoch, created when missing. A missing epoch means a history that starts
 * now: the stream is emptied and the seq is raised to at least the caller's `minSeq`, so the new epoch's seqs
 * lie past that caller's journal (its catching-up readers see a gap instead of other entries under old seqs).
 */
const ENSURE_EPOCH = `
local function ensure_epoch(stream, seq, epoch_key, candidate, min_seq)
  local epoch = redis.call('GET', epoch_key)
  if epoch then return epoch end
  redis.call('SET', epoch_key, candidate)
  redis.call('DEL', stream)
  if tonumber(redis.call('GET', seq) or '0') < tonumber(min_seq) then redis.call('SET', seq, min_seq) end
  return candidate
end
`;

/**
 * KEYS: stream, seq, epoch. ARGV: candidate epoch, min seq.
 * Returns {epoch, last seq, seq of the oldest log entry the stream holds or nil}: one consistent view for a
 * mirror to sync to.
 */
export const SYNC_SCRIPT = luaScript(`${ENSURE_EPOCH}
local epoch = ensure_epoch(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
local first_seq = false
if first then
  local count = 1
  for i = 1, #first[2], 2 do
    if first[2][i] == 'n' then count = tonumber(first[2][i + 1]) or 1 end
  end
  first_seq = tonumber(string.match(first[1], '^(%d+)')) - count + 1
end
return {epoch, tonumber(redis.call('GET', KEYS[2]) or '0'), first_seq}
`);

/**
 * KEYS: stream, seq, epoch, writer, positions[, batch marker].
 * ARGV: lease value ('' for none), candidate epoch, min seq (both for ensure_epoch), maxlen, batch id, marker
 * ttl ms, n, the n entries joined (log-batch.ts), '1' when they are masked ('0' if not), m, m (field, value)
 * pairs to set in positions, k, k fields to delete from positions, the id of the batch that must have
 * been applied just before this one ('' for none), and '1' to write one stream entry per log entry (the form
 * an earlier version reads, for a rolling upgrade) instead of one for the batch, and '1' when every entry is
 * serializeEntry's JSON of an entry (the `p` field; missing counts as '0').
 * Returns -1 when a lease value is given and not held (nothing written), -2 when the batch marker holds this
 * batch id (already applied), -3 when it does not hold the predecessor's id (that batch was not applied, or
 * another came between: nothing written), else the last seq taken (0 for a batch without entries).
 *
 * Redis does not undo a script's writes before an error, so everything that could make a write fail (a key
 * of another type, a seq that is not a number or lies behind the stream's last entry) is checked before the
 * first one, the XADD (which refuses an id not past the stream's last one) is the first write, and the
 * marker is set last: a batch either is applied with its marker or leaves nothing of itself (ensure_epoch's
 * writes aside, which a retry finds done) and its retry is applied.
 */
export const APPEND_SCRIPT = luaScript(`${ENSURE_EPOCH}
if ARGV[1] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[1] then return -1 end
if KEYS[6] and redis.call('GET', KEYS[6]) == ARGV[5] then return -2 end
local n_set = tonumber(ARGV[10])
local at_previous = 10 + 2 * n_set + 1 + tonumber(ARGV[10 + 2 * n_set + 1]) + 1
local previous = ARGV[at_previous]
local one_each = ARGV[at_previous + 1] == '1'
local plain = ARGV[at_previous + 2] or '0'
if previous and previous ~= '' and redis.call('GET', KEYS[6]) ~= previous then return -3 end
local epoch = ensure_epoch(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[3])
local stream_type = redis.call('TYPE', KEYS[1]).ok
if stream_type ~= 'stream' and stream_type ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' is a ' .. stream_type .. ', not a stream')
end
local last = redis.call('GET', KEYS[2]) or '0'
if not string.match(last, '^%d+$') then
  return redis.error_reply('ERR ' .. KEYS[2] .. ' holds ' .. last .. ', not a seq')
end
-- An entry past the seq counter would share seqs with this batch. Looked up by range, not with XINFO STREAM,
-- whose reply carries the first and last entries: copying those two batches into Lua took 3 of the script's 5 ms
-- (a 3,400-entry batch). What XRANGE cannot see (a deleted entry past the counter) makes the XADD below fail,
-- before anything of the batch is written.
if stream_type == 'stream' then
  local past = redis.call('XRANGE', KEYS[1], '(' .. last .. '-0', '+', 'COUNT', 1)[1]
  if past then
    return redis.error_reply('ERR ' .. KEYS[1] .. ' holds ' .. past[1] .. ', past ' .. KEYS[2] .. ' ' .. last)
  end
end
local positions_type = redis.call('TYPE', KEYS[5]).ok
if positions_type ~= 'hash' and positions_type ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[5] .. ' is a ' .. positions_type .. ', not a hash')
end
local n = tonumber(ARGV[7])
local seq = 0
if n > 0 then
  -- The whole batch is one stream entry under its last seq (see the layout above): per-entry calls from Lua
  -- cost Redis more than the XADDs themselves. Trimmed by seq: entries whose last seq is older than the
  -- newest maxlen go (MINID ~ removes whole nodes, so about that many stay).
  seq = tonumber(last) + n
  if one_each then
    -- One stream entry per log entry, the form instances before batches read (a rolling upgrade): cut as
    -- splitEntries does, the last piece keeping any extra newlines, missing pieces empty.
    local text, from = ARGV[8], 1
    for i = 1, n do
      local stop = i < n and string.find(text, '\\n', from, true) or nil
      local piece = string.sub(text, from, stop and stop - 1 or -1)
      from = stop and stop + 1 or #text + 1
      redis.call('XADD', KEYS[1], string.format('%d-0', tonumber(last) + i), 'ep', epoch, 'm', ARGV[9], 'e', piece)
    end
  else
    redis.call('XADD', KEYS[1], string.format('%d-0', seq), 'ep', epoch, 'n', n, 'm', ARGV[9], 'p', plain, 'e', ARGV[8])
  end
  redis.call('INCRBY', KEYS[2], n)
  redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%d', math.max(seq - tonumber(ARGV[4]) + 1, 0)))
end
local at = 10
for i = 1, tonumber(ARGV[at]) do
  redis.call('HSET', KEYS[5], ARGV[at + 2 * i - 1], ARGV[at + 2 * i])
end
at = at + 2 * tonumber(ARGV[at]) + 1
for i = 1, tonumber(ARGV[at]) do
  redis.call('HDEL', KEYS[5], ARGV[at + i])
end
if KEYS[6] then redis.call('SET', KEYS[6], ARGV[5], 'PX', ARGV[6]) end
return seq
`);

/**
 * How long a batch marker outlives its last batch: far longer than any resend of that batch or any batch
 * in flight behind it can take, and the marker of an instance or a writer term gone goes with it.
 */
export const BATCH_MARKER_TTL_MS = 10 * 60_000;

/** Builds APPEND_SCRIPT's arguments. */
export function appendArgs(options: {
  lease: string;
  candidateEpoch: string;
  /** This instance's journal end: a new epoch starts past it. */
  minSeq: number;
  maxEntries: number;
  /** The relayed batch's id ('' for the writer's batches, which carry no marker). */
  batchId: string;
  markerTtlMs: number;
  entries: readonly string[];
  /** The entries' secrets are masked (the appending instance masks): a mirror need not scan them again. */
  masked: boolean;
  set: ReadonlyArray<readonly [string, string]>;
  remove: readonly string[];
  /** The batch this one must follow (its id in the marker), when one was sent before it was confirmed. */
  previousBatchId?: string;
  /** One stream entry per log entry, as instances before batches read them (CLUSTER_LOG_STREAM_FORMAT). */
  oneStreamEntryEach?: boolean;
  /**
   * Every entry is serializeEntry's JSON of an entry without a cursor: a mirror may publish it without
   * parsing it (the `p` field). Not written in the one-entry-each form, which stays as earlier versions wrote it.
   */
  plain?: boolean;
}): (string | number)[] {
  const args: (string | number)[] = [
    options.lease,
    options.candidateEpoch,
    options.minSeq,
    options.maxEntries,
    options.batchId,
    options.markerTtlMs,
    options.entries.length,
    // serializeEntry's JSON holds no raw newline (JSON.stringify escapes them and writes no whitespace, and
    // masking keeps only text of the match): looking for one in each entry was 3 % of a writer's time.
    options.plain === true ? options.entries.join("\n") : joinEntries(options.entries),
    options.masked ? "1" : "0",
    options.set.length,
  ];
  for (const [field, value] of options.set) args.push(field, value);
  args.push(options.remove.length, ...options.remove, options.previousBatchId ?? "");
  args.push(options.oneStreamEntryEach === true ? "1" : "0", options.plain === true ? "1" : "0");
  return args;
}

/** A fresh epoch or token: 8 random hex digits. */
export function randomHex8(): string {
  return crypto.randomUUID().slice(0, 8);
}
