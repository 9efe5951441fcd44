/**
 * The log hub: sources hand it entries, it decides topics and publishes. It keeps its own subscriber counts
 * per topic (Bun's pub/sub does not tell which topics exist) so an entry costs nothing for a topic nobody
 * listens to, and it serialises each entry once however many topics it reaches.
 */
import type { LogEntry } from "../logs/entry.ts";
import { redactSecrets } from "../logs/redact.ts";
import { type LogFilters, maskOf, maskOfTopic, topicForEntry, topicForFilters } from "./topics.ts";

/** Where serialised entries go: in production `server.publish`, which fans out to every subscriber. */
export type PublishFn = (topic: string, payload: string) => void;

export interface LogHubOptions {
  publish: PublishFn;
  /** Mask GitHub tokens and credentials in everything streamed. */
  redact: boolean;
}

export interface LogHubStats {
  topics: number;
  subscribers: number;
  entriesSeen: number;
  entriesPublished: number;
}

export interface LogHub {
  /** Registers one subscriber for this filter set; returns the topic the transport subscribes the socket to. */
  subscribe(filters: LogFilters): string;
  unsubscribe(topic: string): void;
  /** Routes one entry to every topic with subscribers that it matches. */
  publish(entry: LogEntry): void;
  /** The serialised form streamed for an entry (redacted when configured), for direct sends. */
  serialise(entry: LogEntry): string;
  stats(): LogHubStats;
}

export function createLogHub({ publish, redact }: LogHubOptions): LogHub {
  const subscribersByTopic = new Map<string, number>();
  const topicsByMask = new Map<number, number>();
  /** Masks with at least one live topic; rebuilt only when that set changes, read on every entry. */
  let activeMasks: number[] = [];
  let entriesSeen = 0;
  let entriesPublished = 0;

  const adjustMask = (mask: number, delta: 1 | -1) => {
    const count = (topicsByMask.get(mask) ?? 0) + delta;
    if (count > 0) topicsByMask.set(mask, count);
    else topicsByMask.delete(mask);
    if ((count === 1 && delta === 1) || count === 0) activeMasks = [...topicsByMask.keys()];
  };

  const serialise = (entry: LogEntry) => {
    const json = JSON.stringify(entry);
    return redact ? redactSecrets(json) : json;
  };

  return {
    subscribe(filters) {
      const topic = topicForFilters(filters);
      const count = subscribersByTopic.get(topic) ?? 0;
      subscribersByTopic.set(topic, count + 1);
      if (count === 0) adjustMask(maskOf(filters), 1);
      return topic;
    },
    unsubscribe(topic) {
      const count = subscribersByTopic.get(topic);
      if (count === undefined) return;
      if (count > 1) {
        subscribersByTopic.set(topic, count - 1);
        return;
      }
      subscribersByTopic.delete(topic);
      adjustMask(maskOfTopic(topic), -1);
    },
    publish(entry) {
      entriesSeen++;
      let payload: string | null = null;
      for (const mask of activeMasks) {
        const topic = topicForEntry(entry, mask);
        if (topic === null || !subscribersByTopic.has(topic)) continue;
        payload ??= serialise(entry);
        publish(topic, payload);
      }
      if (payload !== null) entriesPublished++;
    },
    serialise,
    stats() {
      let subscribers = 0;
      for (const count of subscribersByTopic.values()) subscribers += count;
      return { topics: subscribersByTopic.size, subscribers, entriesSeen, entriesPublished };
    },
  };
}
