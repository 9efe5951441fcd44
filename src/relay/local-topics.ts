/**
 * Relay topics for subscribers that are not Bun WebSockets (the event-stream of smee.ts): the relay publishes
 * every delivery to Bun's topics and to these, and counts both, so the one fan-out and the one catch-up
 * (feed.ts) serve them as they serve sockets.
 */

export interface LocalSubscriber {
  deliver(payload: string): void;
  /** Ends the subscriber (server shutdown). */
  end(): void;
}

export interface LocalTopics {
  publish(topic: string, payload: string): void;
  count(topic: string): number;
  subscribe(topic: string, subscriber: LocalSubscriber): void;
  unsubscribe(topic: string, subscriber: LocalSubscriber): void;
  /** Registers an open subscriber (subscribed to topics or still catching up) for `endAll`. */
  open(subscriber: LocalSubscriber): () => void;
  /** Ends every open subscriber; at shutdown, before the server waits for requests to finish. */
  endAll(): void;
}

export function createLocalTopics(): LocalTopics {
  const topics = new Map<string, Set<LocalSubscriber>>();
  const opened = new Set<LocalSubscriber>();
  return {
    publish(topic, payload) {
      const subscribers = topics.get(topic);
      if (subscribers !== undefined) for (const subscriber of subscribers) subscriber.deliver(payload);
    },
    count: (topic) => topics.get(topic)?.size ?? 0,
    subscribe(topic, subscriber) {
      let subscribers = topics.get(topic);
      if (subscribers === undefined) {
        subscribers = new Set();
        topics.set(topic, subscribers);
      }
      subscribers.add(subscriber);
    },
    unsubscribe(topic, subscriber) {
      const subscribers = topics.get(topic);
      subscribers?.delete(subscriber);
      if (subscribers?.size === 0) topics.delete(topic);
    },
    open(subscriber) {
      opened.add(subscriber);
      return () => void opened.delete(subscriber);
    },
    endAll() {
      for (const subscriber of [...opened]) subscriber.end();
    },
  };
}
