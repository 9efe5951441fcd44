/**
 * Live fan-out of relayed deliveries, and the one number that makes resuming exact: the highest delivery id
 * published so far. The writer publishes in store order, after each commit is durable, so every later
 * publish has a greater id. A reader that has sent everything up to `published()` and joins the live topics
 * in that same synchronous step therefore misses nothing and receives nothing twice. Live sockets are held
 * to the stream core's one lag rule (src/stream/lag.ts).
 */
import { createLagWatch, type LiveMember } from "../stream/lag.ts";
import { createPositionWaiter } from "../stream/position-waiter.ts";

export type { LiveMember } from "../stream/lag.ts";

export interface FanoutOptions {
  /** In production `server.publish`, which reaches every socket subscribed to the topic. */
  publish: (topic: string, payload: string) => void;
  subscriberCount: (topic: string) => number;
  lagBytes: number;
  /** What the live sockets hold queued together at most (see src/stream/lag.ts); default: no shared bound. */
  lagTotalBytes?: number;
  /** The highest id stored before this process started: everything up to it counts as published. */
  startId: number;
}

export interface FanoutStats {
  live: number;
  lagEvents: number;
  /** Messages published, counted once per subscribed socket, and their bytes. */
  messagesSent: number;
  bytesSent: number;
}

export interface Fanout {
  published(): number;
  /**
   * Publishes a committed delivery to its bucket's topic and the all-buckets topic; `message` is called once,
   * and only when someone listens. Ids must increase from call to call.
   */
  publish(id: number, topics: readonly string[], message: () => string): void;
  join(member: LiveMember): void;
  leave(member: LiveMember): void;
  checkLag(): void;
  /** Resolves true once `published()` reaches `position`, false after `timeoutMs` (event-driven). */
  reached(position: number, timeoutMs: number): Promise<boolean>;
  stats(): FanoutStats;
  close(): void;
}

export function createFanout(options: FanoutOptions): Fanout {
  let published = options.startId;
  const lag = createLagWatch({ lagBytes: options.lagBytes, totalBytes: options.lagTotalBytes });
  const waiter = createPositionWaiter(() => published);
  let messagesSent = 0;
  let bytesSent = 0;

  return {
    published: () => published,
    publish(id, topics, message) {
      let payload: string | null = null;
      let sockets = 0;
      let reached = 0;
      for (const topic of topics) {
        const subscribers = options.subscriberCount(topic);
        if (subscribers === 0) continue;
        payload ??= message();
        options.publish(topic, payload);
        sockets += subscribers;
        reached++;
      }
      published = Math.max(published, id);
      waiter.advance(published);
      if (payload === null) return;
      const bytes = Buffer.byteLength(payload);
      messagesSent += sockets;
      bytesSent += bytes * sockets;
      lag.published(bytes * reached);
    },
    join: (member) => lag.join(member),
    leave: (member) => lag.leave(member),
    checkLag: () => lag.check(),
    reached: (position, timeoutMs) => waiter.wait(position, timeoutMs),
    stats: () => ({ ...lag.stats(), messagesSent, bytesSent }),
    close: () => lag.close(),
  };
}
