/**
 * The one place that talks to Bun's built-in `RedisClient`. Everything else sees `Redis`: raw commands,
 * Lua scripts, and whether Redis answers right now.
 *
 * Bun's client reconnects by itself after Redis restarts, but fails the commands sent while it was away
 * (`ERR_REDIS_CONNECTION_CLOSED`) and drops pub/sub subscriptions silently. So nothing that must not be lost
 * relies on pub/sub: shared streams are followed with XREAD loops that resume from the last id they saw.
 * Pub/sub carries only what may be lost (passthrough answers, whose senders then get the configured
 * response), on a connection of its own that subscribes again whenever it reconnects. A failed command
 * marks Redis down until a probe answers again. The offline queue is off, so a command never waits unbounded
 * for a Redis that is away: it fails at once with `RedisUnavailableError`, and callers answer 503 or retry.
 */
import { RedisClient } from "bun";
import { StoreUnavailableError } from "../transport/errors.ts";

export class RedisUnavailableError extends StoreUnavailableError {
  constructor(cause: unknown) {
    super(`Redis is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

export type RedisValue = string | number | null | RedisValue[] | { [key: string]: RedisValue };

/** A command argument; bytes are sent as they are. */
export type RedisArgument = string | number | Uint8Array;

export interface Redis {
  /** One command; rejects with `RedisUnavailableError` when Redis cannot be reached, else Redis's error. */
  send(command: string, args: readonly RedisArgument[]): Promise<RedisValue>;
  /**
   * A string value's bytes as they are (`send` answers strings decoded as UTF-8), or null when the key does
   * not exist. Fails as `send` does.
   */
  getBytes(key: string): Promise<Uint8Array | null>;
  /** Runs a Lua script by its SHA, loading it first when Redis does not know it (after a restart). */
  eval(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<RedisValue>;
  /** A second connection, for blocking commands (XREAD BLOCK) that would stall everything else. */
  duplicate(): Promise<Redis>;
  /**
   * Listens to a channel on a connection of its own (renewed on every reconnect: messages published while
   * it was away are lost). The returned function stops listening and closes that connection.
   */
  subscribe(channel: string, listener: (message: string) => void): Promise<() => void>;
  /** Whether the last command reached Redis (or a probe since answered). */
  isUp(): boolean;
  /** Called with the new state whenever Redis goes down or comes back. */
  onStateChange(listener: (up: boolean) => void): () => void;
  close(): void;
}

export interface LuaScript {
  source: string;
  sha: string;
}

export function luaScript(source: string): LuaScript {
  return { source, sha: new Bun.CryptoHasher("sha1").update(source).digest("hex") };
}

export interface RedisOptions {
  url: string;
  /** While Redis is down, it is probed this often (PING); a success brings the state back up. */
  probeIntervalMs?: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

/** One connection attempt; `connectRedis` retries until its own deadline. */
const CONNECT_ATTEMPT_MS = 2_000;

/**
 * Errors that mean "Redis cannot serve this right now", as opposed to an error about the command: the
 * connection is gone, or Redis is loading its data, running a long script, or failing over to a replica
 * (Sentinel or a managed Redis answers READONLY / MASTERDOWN meanwhile). All of them pass by themselves.
 */
export function isUnavailabilityError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /CONNECTION|SOCKET|ECONNREFUSED|ECONNRESET|TIMEOUT|CLOSED/i.test(code))
    return true;
  const message = error instanceof Error ? error.message : String(error);
  return (
    /connection (is )?closed|ECONNREFUSED|ECONNRESET|socket|not connected/i.test(message) ||
    /^(ERR )?(LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN)\b/.test(message)
  );
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/**
 * What is unsafe about reaching Redis this way, or null. Redis holds webhook bodies and the inputs' GitHub
 * secrets (they must stay readable to check signatures), so anyone who can talk to it can read them.
 */
export function redisExposureWarning(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (LOOPBACK_HOSTS.has(parsed.hostname)) return null;
  const problems = [
    ...(parsed.password === "" ? ["no password"] : []),
    ...(parsed.protocol === "redis:" ? ["no TLS (redis:// instead of rediss://)"] : []),
  ];
  if (problems.length === 0) return null;
  return (
    `Redis at ${parsed.host} is reached with ${problems.join(" and ")}: it holds webhook bodies and input ` +
    "secrets, so keep it on a private network or set a password and use rediss://."
  );
}

/** Redis's URL without its password, for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable Redis URL)";
  }
}

/** Connects (retrying until `deadlineMs` passes) and returns the shared state of one Redis server. */
export async function connectRedis(options: RedisOptions, deadlineMs = 10_000): Promise<Redis> {
  const started = Date.now();
  for (;;) {
    try {
      return await openConnection(options, new Set());
    } catch (error) {
      if (Date.now() - started > deadlineMs)
        throw new RedisUnavailableError(
          `could not reach ${redactRedisUrl(options.url)} within ${deadlineMs} ms: ${String(error)}`,
        );
      await Bun.sleep(200);
    }
  }
}

/** A client that never queues a command while Redis is away and never stops reconnecting. */
function newClient(url: string): RedisClient {
  return new RedisClient(url, {
    autoReconnect: true,
    enableOfflineQueue: false,
    // Never give up reconnecting: a Redis restart may take a while, and there is no other Redis to use.
    maxRetries: 4_294_967_295,
    connectionTimeout: 2_000,
  });
}

/** Connects `client`, or closes it and rejects after CONNECT_ATTEMPT_MS. */
async function connectWithin(client: RedisClient): Promise<void> {
  // Bun's connect() keeps retrying while Redis is away; the caller's deadline decides instead.
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("connection timed out")), CONNECT_ATTEMPT_MS);
      }),
    ]);
  } catch (error) {
    client.close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether Redis answers, as commands last found it: down after a failure, and while down probed with PING
 * until it answers. Listeners hear every change.
 */
function createUpState(client: RedisClient, options: RedisOptions, listeners: Set<(up: boolean) => void>) {
  const probeIntervalMs = options.probeIntervalMs ?? 500;
  let up = true;
  let closed = false;
  let probe: ReturnType<typeof setInterval> | null = null;

  const set = (next: boolean) => {
    if (next === up || closed) return;
    up = next;
    options.log(
      next ? "info" : "warn",
      next ? "Redis is reachable again" : `Redis at ${redactRedisUrl(options.url)} is unreachable`,
    );
    for (const listener of listeners) listener(next);
    if (!next && probe === null) {
      probe = setInterval(() => {
        client.send("PING", []).then(
          () => {
            if (probe !== null) clearInterval(probe);
            probe = null;
            set(true);
          },
          () => {},
        );
      }, probeIntervalMs);
    }
  };

  return {
    set,
    isUp: () => up,
    isClosed: () => closed,
    close() {
      closed = true;
      if (probe !== null) clearInterval(probe);
    },
  };
}

/** Listens to `channel` on a connection of its own, subscribing again after every reconnect. */
async function subscribeOn(
  options: RedisOptions,
  channel: string,
  listener: (message: string) => void,
  lost: () => void,
): Promise<() => void> {
  const subscriber = newClient(options.url);
  let connects = 0;
  let stopped = false;
  // A subscription idles on an open connection: its loss is the first sign that Redis went away, sooner
  // than the next command (the probe then tells when it is back).
  subscriber.onclose = () => {
    if (!stopped) lost();
  };
  subscriber.onconnect = () => {
    // The first connect is followed by the subscribe below; Bun forgets subscriptions on a reconnect.
    if (++connects > 1)
      subscriber.subscribe(channel, listener).catch((error: unknown) => {
        options.log("warn", `subscribing to ${channel} again failed: ${String(error)}`);
      });
  };
  try {
    await subscriber.connect();
    await subscriber.subscribe(channel, listener);
  } catch (error) {
    stopped = true;
    subscriber.close();
    throw new RedisUnavailableError(error);
  }
  return () => {
    stopped = true;
    subscriber.close();
  };
}

async function openConnection(options: RedisOptions, listeners: Set<(up: boolean) => void>): Promise<Redis> {
  const client = newClient(options.url);
  await connectWithin(client);
  const state = createUpState(client, options, listeners);

  const answered = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      const result = await call();
      state.set(true);
      return result;
    } catch (error) {
      if (state.isClosed() || isUnavailabilityError(error)) {
        state.set(false);
        throw new RedisUnavailableError(error);
      }
      throw error;
    }
  };
  // Bun's client takes bytes among the arguments at run time, though its types say strings.
  const argument = (value: RedisArgument) => (typeof value === "number" ? String(value) : value) as string;
  const send = (command: string, args: readonly RedisArgument[]) =>
    answered(() => client.send(command, args.map(argument)) as Promise<RedisValue>);

  return {
    send,
    // A plain view, not Bun's Buffer: a Buffer's `slice` shares memory where a Uint8Array's copies.
    getBytes: (key) =>
      answered(async () => {
        const bytes = await client.getBuffer(key);
        return bytes === null ? null : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      }),
    async eval(script, keys, args) {
      const rest = [keys.length, ...keys, ...args];
      try {
        return await send("EVALSHA", [script.sha, ...rest]);
      } catch (error) {
        if (error instanceof RedisUnavailableError || !String(error).includes("NOSCRIPT")) throw error;
        return await send("EVAL", [script.source, ...rest]);
      }
    },
    duplicate: () => openConnection(options, new Set()),
    subscribe: (channel, listener) => subscribeOn(options, channel, listener, () => state.set(false)),
    isUp: state.isUp,
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      state.close();
      client.close();
    },
  };
}
