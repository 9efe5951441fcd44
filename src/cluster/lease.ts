/**
 * A lease in Redis with fencing. Each acquisition starts a term with a fresh token (`<instance id>/<8 hex>`)
 * that the lease key holds for `leaseMs`, renewed well within that time. Whoever writes under the lease passes
 * the token to a script that checks it before writing (APPEND_SCRIPT), so a holder that lost the lease
 * (expired while it was paused, or taken by another instance) cannot write, even before it notices, and even
 * if it would take the same key again later.
 *
 * Beside the lease the holder keeps a status value that instances without the lease read (the log writer:
 * whether it sees the log directory); taking the lease and every renewal set it.
 */
import { randomHex8 } from "./log-scripts.ts";
import { luaScript, type Redis } from "./redis.ts";

/**
 * KEYS: lease, status. ARGV: token, ms, this instance's prefix (`<instance id>/`), status.
 * Takes the lease when it is free or held by an earlier, already ended term of this same instance (after
 * Redis came back, its old lease may outlive the term it belonged to), and sets the status. 1 when taken,
 * else 0.
 */
export const ACQUIRE_LEASE_SCRIPT = luaScript(`
local holder = redis.call('GET', KEYS[1])
if holder and string.sub(holder, 1, #ARGV[3]) ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[4])
return 1
`);

/**
 * KEYS: lease, status. ARGV: token, ms, status.
 * Extends the lease only if this exact token still holds it, and sets the status: 1, else 0.
 */
export const RENEW_LEASE_SCRIPT = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return 1
`);

/** KEYS: lease. ARGV: token. Deletes the lease only if this exact token holds it. */
export const RELEASE_LEASE_SCRIPT = luaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

export interface LeaseOptions {
  redis: Redis;
  keys: { lease: string; status: string };
  instanceId: string;
  leaseMs: number;
  log: (level: "warn", message: string) => void;
}

export interface Lease {
  /** Takes the lease if it is free, setting the status: the new term's token, or null when taken. */
  acquire(status: string): Promise<string | null>;
  /** Extends the term of `token` and sets the status; false when the token no longer holds the lease. */
  renew(token: string, status: string): Promise<boolean>;
  /** Ends the term at once, so another instance takes over; a failure is logged (the lease then expires). */
  release(token: string): Promise<void>;
}

/** How often a holder renews: three times per lease, at most every 100 ms. */
export function renewIntervalMs(leaseMs: number): number {
  return Math.max(100, Math.floor(leaseMs / 3));
}

/** The instance holding the lease, from the lease key's value (`<instance id>/<token>`); null when free. */
export function leaseHolder(value: unknown): string | null {
  return typeof value === "string" ? (value.split("/")[0] ?? null) : null;
}

export function createLease(options: LeaseOptions): Lease {
  const { redis, keys, instanceId, leaseMs, log } = options;
  return {
    async acquire(status) {
      const token = `${instanceId}/${randomHex8()}`;
      const taken = await redis.eval(
        ACQUIRE_LEASE_SCRIPT,
        [keys.lease, keys.status],
        [token, leaseMs, `${instanceId}/`, status],
      );
      return taken === 1 ? token : null;
    },
    async renew(token, status) {
      return (
        (await redis.eval(RENEW_LEASE_SCRIPT, [keys.lease, keys.status], [token, leaseMs, status])) === 1
      );
    },
    async release(token) {
      try {
        // EVAL, not EVALSHA: at shutdown the connection closes right after, leaving no time for a NOSCRIPT retry.
        await redis.send("EVAL", [RELEASE_LEASE_SCRIPT.source, 1, keys.lease, token]);
      } catch (error) {
        log("warn", `could not release the writer lease (it expires by itself): ${String(error)}`);
      }
    },
  };
}
