/**
 * Live fan-out of relayed deliveries, and the one number that makes resuming exact: the highest delivery id
 * published so far. The writer publishes in store order, after each commit is durable, so every later
 * publish has a greater id. A reader that has sent everything up to `published()` and joins the live topics
 * in that same synchronous step therefore misses nothing and receives nothing twice.
 *
 * It also watches the live sockets' send buffers: one holding more than `lagBytes` is taken off the live
 * topics (its `onLag`) and catches up from the store instead, long before Bun's backpressure limit would
 * close it. A check runs each time another `lagBytes` have been published, so between two checks no live
 * socket is sent more than that: a live socket never holds more than about twice `lagBytes` plus one message.
 */

/** A socket on the live topics, as the fan-out sees it. */
export interface LiveMember {
  bufferedAmount(): number;
  /** Too far behind: the fan-out already dropped it; it must leave its topics and catch up from the store. */
  onLag(): void;
}

export interface FanoutOptions {
  /** In production `server.publish`, which reaches every socket subscribed to the topic. */
  publish: (topic: string, payload: string) => void;
  subscriberCount: (topic: string) => number;
  lagBytes: number;
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
  stats(): FanoutStats;
}

export function createFanout(options: FanoutOptions): Fanout {
  const members = new Set<LiveMember>();
  let published = options.startId;
  let bytesSinceCheck = 0;
  let lagEvents = 0;
  let messagesSent = 0;
  let bytesSent = 0;

  const checkLag = () => {
    bytesSinceCheck = 0;
    const lagging: LiveMember[] = [];
    for (const member of members) if (member.bufferedAmount() > options.lagBytes) lagging.push(member);
    for (const member of lagging) {
      members.delete(member);
      lagEvents++;
      member.onLag();
    }
  };

  return {
    published: () => published,
    publish(id, topics, message) {
      let payload: string | null = null;
      let sockets = 0;
      for (const topic of topics) {
        const subscribers = options.subscriberCount(topic);
        if (subscribers === 0) continue;
        payload ??= message();
        options.publish(topic, payload);
        sockets += subscribers;
      }
      published = Math.max(published, id);
      if (payload === null) return;
      const bytes = Buffer.byteLength(payload);
      messagesSent += sockets;
      bytesSent += bytes * sockets;
      bytesSinceCheck += bytes;
      if (bytesSinceCheck >= options.lagBytes) checkLag();
    },
    join: (member) => void members.add(member),
    leave: (member) => void members.delete(member),
    checkLag,
    stats: () => ({ live: members.size, lagEvents, messagesSent, bytesSent }),
  };
}
