/**
 * A second Redis connection for blocking reads (XREAD BLOCK), opened on first use: a blocked read on the
 * shared connection would stall every other command. Bun's client does not give up connecting while Redis is
 * away, so the one attempt is kept (never a new client per retry) and each wait for it is bounded.
 */

import { type Redis, RedisUnavailableError } from "./redis.ts";

/** How long a caller waits for the connection to open before reporting Redis away. */
const BLOCKING_CONNECT_TIMEOUT_MS = 2_000;

export interface BlockingConnection {
  /** The open connection; rejects with RedisUnavailableError when closed or not open in time. */
  get(): Promise<Redis>;
  /** Fails every waiting caller at once; a connection still being opened is closed as soon as it opens. */
  close(): void;
}

export function createBlockingConnection(redis: Redis): BlockingConnection {
  let blocking: Redis | null = null;
  let opening: Promise<Redis> | null = null;
  let closed = false;
  /** Waits for the connection to open, failed at once by close(). */
  const waitingToOpen = new Set<(error: RedisUnavailableError) => void>();

  const open = (): Promise<Redis> =>
    redis.duplicate().then(
      (connection) => {
        opening = null;
        if (closed) {
          connection.close();
          throw new RedisUnavailableError("the store is closed");
        }
        blocking = connection;
        return connection;
      },
      (error: unknown) => {
        opening = null;
        throw error instanceof RedisUnavailableError ? error : new RedisUnavailableError(error);
      },
    );

  const waitBounded = (attempt: Promise<Redis>): Promise<Redis> =>
    new Promise((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        waitingToOpen.delete(reject);
      };
      const timer = setTimeout(() => {
        settle();
        reject(new RedisUnavailableError(`no connection within ${BLOCKING_CONNECT_TIMEOUT_MS} ms`));
      }, BLOCKING_CONNECT_TIMEOUT_MS);
      waitingToOpen.add(reject);
      attempt.then(
        (connection) => {
          settle();
          resolve(connection);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });

  return {
    get() {
      if (closed) return Promise.reject(new RedisUnavailableError("the store is closed"));
      if (blocking !== null) return Promise.resolve(blocking);
      opening ??= open();
      return waitBounded(opening);
    },
    close() {
      closed = true;
      for (const reject of waitingToOpen) reject(new RedisUnavailableError("the store is closed"));
      waitingToOpen.clear();
      blocking?.close();
      blocking = null;
    },
  };
}
