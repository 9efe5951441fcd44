/**
 * The log hub: sources hand it entries, it decides topics and publishes. It keeps its own subscriber counts
 * per topic (Bun's pub/sub does not tell which topics exist) so an entry costs nothing for a topic nobody
 * listens to, and it serialises each entry once however many topics it reaches.
 *
 * With a journal, every entry gets the journal position as its `cursor` and is journaled before it is
 * published, so a client that leaves the live topic can continue from the journal without a gap.
 */

import { createLagWatch, type LiveMember } from "../stream/lag.ts";
import { createPositionWaiter } from "../stream/position-waiter.ts";
import type { LogEntry } from "./entry.ts";
import type { Journal } from "./journal.ts";
import { serializeEntry, serializeWithCursor, spliceCursor } from "./serialize.ts";
import { createTopicRouter } from "./topic-router.ts";
import { type LogFilters, topicForFilters } from "./topics.ts";

/** Where serialised entries go: in production `server.publish`, which fans out to every subscriber. */
export type PublishFn = (topic: string, payload: string) => void;

/** A live subscriber as the hub sees it: the stream core's; on lag the hub has already removed it from its topic. */
export type { LiveMember } from "../stream/lag.ts";

export interface LogHubOptions {
  publish: PublishFn;
  /** Mask GitHub tokens and credentials in everything streamed. */
  redact: boolean;
  journal?: Journal;
  /** A live member with more than this many bytes queued is taken off the live topic. */
  lagBytes?: number;
  /** What the live members hold queued together at most: with many, each one's room is its share. */
  lagTotalBytes?: number;
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
  /**
   * Journals one entry and routes it to every topic with subscribers that it matches. `serialized`, when
   * given, is the entry's serialised form without a cursor, and `entry` its JSON.parse (the shared stream's
   * mirror has both): the payload is then built from it instead of serialising the entry again. `masked`:
   * `serialized` has its secrets masked already (masking again changes nothing), so it is not scanned again.
   */
  publish(entry: LogEntry, serialized?: string, masked?: boolean): void;
  /**
   * publish() for `serialized`, serializeEntry's JSON of an entry without a cursor, whose parse `parse`
   * gives: called only when a topic filters on a field or the payload must be built from the entry (past
   * the length bound, no journal). The shared stream's mirror parsed every entry only to route it.
   */
  publishSerialized(serialized: string, masked: boolean, parse: () => LogEntry): void;
  /** End of a synchronous batch of publishes: write the journal, look for lagging members. */
  endBatch(): void;
  /** Takes every live member whose socket is too far behind off its topic. */
  checkLag(): void;
  /**
   * Resolves true once the journal holds `seq` (entries are journaled before they are published), false
   * after `timeoutMs`: a cursor another instance gave out is waited for, bounded, on the append event.
   */
  reached(seq: number, timeoutMs: number): Promise<boolean>;
  stats(): LogHubStats;
}

interface TopicState {
  topic: string;
  filters: LogFilters;
  members: Set<LiveMember>;
}

export function createLogHub({
  publish,
  redact,
  journal,
  lagBytes = Number.POSITIVE_INFINITY,
  lagTotalBytes,
  lagCheckDelayMs = 100,
}: LogHubOptions): LogHub {
  const topics = new Map<string, TopicState>();
  const router = createTopicRouter<TopicState>();
  const topicOf = new Map<LiveMember, string>();
  let entriesSeen = 0;
  let entriesPublished = 0;
  let messagesSent = 0;
  let charsSent = 0;

  const removeMember = (topic: string, member: LiveMember) => {
    const state = topics.get(topic);
    if (state === undefined || !state.members.delete(member)) return;
    topicOf.delete(member);
    lag.leave(member);
    if (state.members.size > 0) return;
    topics.delete(topic);
    router.remove(state.filters);
  };

  const lag = createLagWatch({
    lagBytes,
    totalBytes: lagTotalBytes,
    trailingCheckMs: lagCheckDelayMs,
    onLag(member) {
      const topic = topicOf.get(member);
      if (topic !== undefined) removeMember(topic, member);
    },
  });
  const waiter = createPositionWaiter(() => (journal === undefined ? -1 : journal.endSeq() - 1));

  /** Publishes to every topic the entry matches; `payload` is serialised here when not given (no journal). */
  const fanOut = (entry: LogEntry | (() => LogEntry), given: string | null) => {
    let payload = given;
    // What went to the topics, in UTF-16 units, not bytes: exact for ASCII, and counting characters keeps
    // the hot path free of UTF-8 measuring (text of three-byte characters is checked a third as often).
    let publishedChars = 0;
    router.route(entry, (state) => {
      payload ??= serializeEntry(typeof entry === "function" ? entry() : entry, redact);
      publish(state.topic, payload);
      publishedChars += payload.length;
      messagesSent += state.members.size;
      charsSent += payload.length * state.members.size;
    });
    if (publishedChars === 0) return;
    entriesPublished++;
    lag.published(publishedChars);
  };

  const hub: LogHub = {
    subscribe(filters, member) {
      const topic = topicForFilters(filters);
      let state = topics.get(topic);
      if (state === undefined) {
        state = { topic, filters, members: new Set() };
        topics.set(topic, state);
        router.add(filters, state);
      }
      state.members.add(member);
      topicOf.set(member, topic);
      lag.join(member);
      return topic;
    },
    unsubscribe: removeMember,
    publish(entry, serialized, masked = false) {
      entriesSeen++;
      let payload: string | null = null;
      if (journal !== undefined) {
        entry.cursor = journal.nextCursor();
        // An entry parsed from masked JSON serialises masked: what redact would do is done.
        payload = serializeWithCursor(entry, serialized, redact && !(masked && serialized !== undefined));
        journal.append(payload, true);
      }
      fanOut(entry, payload);
    },
    publishSerialized(serialized, masked, parse) {
      if (journal === undefined) {
        hub.publish(parse(), serialized, masked);
        return;
      }
      entriesSeen++;
      const cursor = journal.nextCursor();
      let entry: LogEntry | null = null;
      const entryOf = (): LogEntry => {
        if (entry === null) {
          entry = parse();
          entry.cursor = cursor;
        }
        return entry;
      };
      // As publish() does for an entry given with its JSON: masked JSON is not scanned again.
      const payload =
        spliceCursor(serialized, cursor, redact && !masked) ?? serializeEntry(entryOf(), redact && !masked);
      journal.append(payload, true);
      fanOut(entryOf, payload);
    },
    endBatch() {
      journal?.flush();
      if (journal !== undefined) waiter.advance(journal.endSeq() - 1);
    },
    reached: (seq, timeoutMs) => waiter.wait(seq, timeoutMs),
    checkLag: () => lag.check(),
    stats() {
      let subscribers = 0;
      for (const state of topics.values()) subscribers += state.members.size;
      return {
        topics: topics.size,
        subscribers,
        entriesSeen,
        entriesPublished,
        lagEvents: lag.stats().lagEvents,
        messagesSent,
        charsSent,
      };
    },
  };
  return hub;
}
