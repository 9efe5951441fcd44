/**
 * How the instances sharing a Redis relay store (and the CLI) tell each other that buckets, inputs or tokens
 * changed, so a revocation on one closes the sockets on all at once (`RelayStore.watchChanges`): whoever
 * changes them publishes on one channel after the change, every instance that watches listens to it.
 *
 * Pub/sub may lose messages while an instance's subscription reconnects (redis.ts), so Redis coming back is
 * reported as a change too, and the watch is not reliable until subscribed: the server then polls the version
 * counter (`externalChanges()`) as before, and only as a slow safety net while it is.
 */
import type { LogFn } from "../relay/relay.ts";
import type { ChangeOrigin, ChangeWatch, RelayStore } from "../relay/store.ts";
import { createChangeListeners } from "../relay/store-changes.ts";
import type { Redis } from "./redis.ts";

/** The store methods that change buckets, inputs or tokens (each also increments the version counter). */
export const CHANGING_METHODS = [
  "createBucket",
  "deleteBucket",
  "addInput",
  "updateInput",
  "createToken",
  "revokeToken",
  "createOutput",
  "deleteOutput",
] as const;

type Changing = Pick<RelayStore, (typeof CHANGING_METHODS)[number]>;

export interface RedisChanges {
  /** The same methods, each telling this store's listeners and every other instance after it succeeded. */
  announcing<T extends Changing>(methods: T): T;
  watch(listener: (origin: ChangeOrigin) => void): ChangeWatch;
  close(): void;
}

export function createRedisChanges(redis: Redis, channel: string, log: LogFn): RedisChanges {
  const listeners = createChangeListeners();
  let subscribed = false;
  let subscribing = false;
  let unsubscribe: (() => void) | null = null;
  let stopStates: (() => void) | null = null;
  let closed = false;

  /** Awaited by the change: a command (the CLI) closes its connection right after, which would drop it. */
  const announce = async () => {
    listeners.notify("local");
    try {
      await redis.send("PUBLISH", [channel, "changed"]);
    } catch (error) {
      // The change is made; the others see it at their next safety-net look at the version counter.
      log("warn", `telling the other instances of a change failed: ${String(error)}`);
    }
  };

  const subscribe = () => {
    if (subscribing) return;
    subscribing = true;
    void redis
      .subscribe(channel, () => listeners.notify("external"))
      .then((stop) => {
        if (closed) return stop();
        unsubscribe = stop;
        subscribed = true;
        // Messages published while Redis was away are lost: look at the version counter when it is back.
        stopStates = redis.onStateChange((up) => {
          if (up) listeners.notify("external");
        });
      })
      .catch((error: unknown) => {
        subscribing = false;
        log(
          "warn",
          `listening for other instances' changes failed (${String(error)}); polling until Redis is back`,
        );
        const stop = redis.onStateChange((up) => {
          if (!up) return;
          stop();
          if (!closed) subscribe();
        });
      });
  };

  return {
    announcing(methods) {
      const wrapped = { ...methods };
      for (const name of CHANGING_METHODS) {
        const method = methods[name] as (...args: unknown[]) => Promise<unknown>;
        (wrapped as Record<string, unknown>)[name] = async (...args: unknown[]) => {
          const result = await method(...args);
          // Nothing changed: null (no such bucket or input) or false (no such token or output).
          if (result !== null && result !== false) await announce();
          return result;
        };
      }
      return wrapped;
    },
    watch(listener) {
      if (!closed) subscribe();
      return listeners.watch(listener, () => subscribed && redis.isUp());
    },
    close() {
      closed = true;
      stopStates?.();
      unsubscribe?.();
    },
  };
}
