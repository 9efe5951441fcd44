/**
 * The log hub: sources hand it entries, it decides topics and publishes. It keeps its own subscriber counts
 * per topic (Bun's pub/sub does not tell which topics exist) so an entry costs nothing for a topic nobody
 * listens to, and it serialises each entry once however many topics it reaches.
 *
 * With a journal, every entry gets the journal position as its `cursor` and is journaled before it is
 * published, so a client that leaves the live topic can continue from the journal without a gap.
 */
import type { LogEntry } from "../logs/entry.ts";
import type { Journal } from "../logs/journal.ts";
import { redactSecrets } from "../logs/redact.ts";
import { createTopicRouter } from "./router.ts";
import { type LogFilters, topicForFilters } from "./topics.ts";

/** Where serialised entries go: in production `server.publish`, which fans out to every subscriber. */
export type PublishFn = (topic: string, payload: string) => void;

/** A live subscriber as the hub sees it: how far behind its socket is, and what to do when too far. */
export interface LiveMember {
  bufferedAmount(): number;
  /** The member fell behind: the hub has already removed it from its topic; it must leave the Bun topic too. */
  onLag(): void;
}

export interface LogHubOptions {
  publish: PublishFn;
  /** Mask GitHub tokens and credentials in everything streamed. */
  redact: boolean;
  journal?: Journal;
  /** A live member with more than this many bytes queued is taken off the live topic. */
  lagBytes?: number;
  /** After entries were published, lag is checked again this much later (no timer while nothing flows). */
  lagCheckDelayMs?: number;
}

export interface LogHubStats {
  topics: number;
  subscribers: number;
  entriesSeen: number;
  entriesPublished: number;
  lagEvents: number;
  /** Messages the live topics carried, counted once per subscribed socket. */
  messagesSent: number;
  /** Their payloads' length in UTF-16 units (bytes for ASCII JSON), counted once per subscribed socket. */
  charsSent: number;
}

export interface LogHub {
  /** Registers a live subscriber for this filter set; returns the topic the transport subscribes it to. */
  subscribe(filters: LogFilters, member: LiveMember): string;
  unsubscribe(topic: string, member: LiveMember): void;
  /** Journals one entry and routes it to every topic with subscribers that it matches. */
  publish(entry: LogEntry): void;
  /** End of a synchronous batch of publishes: write the journal, look for lagging members. */
  endBatch(): void;
  /** Takes every live member whose socket is too far behind off its topic. */
  checkLag(): void;
  stats(): LogHubStats;
}

/** Entries between lag checks inside one busy stretch; idle periods are covered by the server's timer. */
const LAG_CHECK_EVERY_ENTRIES = 2048;

interface TopicState {
  topic: string;
  filters: LogFilters;
  members: Set<LiveMember>;
  /** Whether an entry was published here since the last lag check. */
  touched: boolean;
}

export function createLogHub({
  publish,
  redact,
  journal,
  lagBytes = Number.POSITIVE_INFINITY,
  lagCheckDelayMs = 100,
}: LogHubOptions): LogHub {
  const topics = new Map<string, TopicState>();
  const router = createTopicRouter<TopicState>();
  let entriesSeen = 0;
  let entriesPublished = 0;
  let entriesSinceLagCheck = 0;
  let lagEvents = 0;
  let messagesSent = 0;
  let charsSent = 0;
  let lagCheckTimer: ReturnType<typeof setTimeout> | null = null;

  const removeMember = (topic: string, member: LiveMember) => {
    const state = topics.get(topic);
    if (state === undefined || !state.members.delete(member)) return;
    if (state.members.size > 0) return;
    topics.delete(topic);
    router.remove(state.filters);
  };

  const checkLag = () => {
    entriesSinceLagCheck = 0;
    if (lagBytes === Number.POSITIVE_INFINITY) return;
    const lagging: Array<[string, LiveMember]> = [];
    for (const [topic, state] of topics) {
      if (!state.touched) continue;
      state.touched = false;
      for (const member of state.members)
        if (member.bufferedAmount() > lagBytes) lagging.push([topic, member]);
    }
    for (const [topic, member] of lagging) {
      removeMember(topic, member);
      lagEvents++;
      member.onLag();
    }
  };

  return {
    subscribe(filters, member) {
      const topic = topicForFilters(filters);
      let state = topics.get(topic);
      if (state === undefined) {
        state = { topic, filters, members: new Set(), touched: false };
        topics.set(topic, state);
        router.add(filters, state);
      }
      state.members.add(member);
      return topic;
    },
    unsubscribe: removeMember,
    publish(entry) {
      entriesSeen++;
      let payload: string | null = null;
      if (journal !== undefined) {
        entry.cursor = journal.nextCursor();
        const json = JSON.stringify(entry);
        payload = redact ? redactSecrets(json) : json;
        journal.append(payload);
      }
      let delivered = false;
      router.route(entry, (state) => {
        if (payload === null) {
          const json = JSON.stringify(entry);
          payload = redact ? redactSecrets(json) : json;
        }
        publish(state.topic, payload);
        messagesSent += state.members.size;
        charsSent += payload.length * state.members.size;
        state.touched = true;
        delivered = true;
      });
      if (delivered) entriesPublished++;
      entriesSinceLagCheck++;
    },
    endBatch() {
      journal?.flush();
      if (entriesSinceLagCheck >= LAG_CHECK_EVERY_ENTRIES) checkLag();
      // A trickle never reaches the count above: check once more shortly after the last entry.
      if (entriesSinceLagCheck > 0 && lagCheckTimer === null && lagBytes !== Number.POSITIVE_INFINITY) {
        lagCheckTimer = setTimeout(() => {
          lagCheckTimer = null;
          checkLag();
        }, lagCheckDelayMs);
        lagCheckTimer.unref?.();
      }
    },
    checkLag,
    stats() {
      let subscribers = 0;
      for (const state of topics.values()) subscribers += state.members.size;
      return {
        topics: topics.size,
        subscribers,
        entriesSeen,
        entriesPublished,
        lagEvents,
        messagesSent,
        charsSent,
      };
    },
  };
}
