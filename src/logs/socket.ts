/**
 * One `/logs/ws` connection. It is either *live* (subscribed to the canonical topic of its filters, fed by
 * Bun's fan-out) or *catching up* (fed from the journal at its own pace). Catch-up is how a client starts
 * from a cursor, `tail=N` or `since=T`, and how a slow client is served: when its send buffer passes the lag
 * limit the hub takes it off the live topic, and it continues from the journal right after the last entry
 * the topic queued for it — then rejoins the live topic once it has caught up. Switching happens in one
 * synchronous step at the journal's end, so there is no gap and no duplicate at the seam.
 */

import type { LiveMember } from "../stream/lag.ts";
import {
  type CatchUpLimits,
  type CatchUpStats,
  createSubscriber,
  type Subscriber,
  type SubscriberProtocol,
} from "../stream/subscriber.ts";
import { CloseCode, type Peer, type SocketSession } from "../transport/peer.ts";
import type { Journal } from "./journal.ts";
import { findSinceStart, findTailStart } from "./journal-read.ts";
import { createJournalSource, HistoryReset } from "./journal-source.ts";
import { createLineMatcher } from "./line-match.ts";
import type { LogHub } from "./log-hub.ts";
import type { LogFilters } from "./topics.ts";

export const LOG_DIRECTORY_MISSING = JSON.stringify({ error: "Log directory not found" });

export type StreamStart =
  | { kind: "live" }
  | { kind: "cursor"; cursor: string }
  | { kind: "tail"; count: number }
  | { kind: "since"; ms: number };

/** The limits of a log stream subscriber: the stream core's. */
export type LogStreamLimits = CatchUpLimits;
/** Counters of the log stream's subscribers, for `/health`. */
export type LogStreamStats = CatchUpStats;

/**
 * Entries older than the journal holds, from the log files (history/backfill.ts): the serialised entries, oldest
 * first, that come before the journal's part of a `tail` or `since` backfill starting at `fromSeq`.
 */
export type OlderThanJournal = (request: {
  filters: LogFilters;
  start: { kind: "tail"; count: number } | { kind: "since"; ms: number };
  fromSeq: number;
  matches: (line: string) => boolean;
}) => Promise<string[]>;

export interface LogSessionDeps {
  /** Reaches into the log files when the journal does not go back far enough; absent: the journal only. */
  olderThanJournal?: OlderThanJournal;
  hub: LogHub;
  journal: Journal;
  directoryExists: () => boolean;
  limits: LogStreamLimits;
  stats: LogStreamStats;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

/** Control messages are objects with a `control` key; only clients that asked for cursors receive them. */
function gapNotice(requested: string | null, resumedFrom: string, reason: string): string {
  return JSON.stringify({ control: "gap", requested, resumed_from: resumedFrom, message: reason });
}

const LOG_PROTOCOL: SubscriberProtocol = {
  /** Sent once, when a client that asked for `cursor`, `tail` or `since` has its backfill and is live. */
  live: JSON.stringify({ control: "live" }),
  gap: gapNotice,
  pruned: "entries before resumed_from are no longer retained",
  behindRetention: "Fell behind the journal's retention: resume with the last cursor",
  missing: "Entries missing from the journal: resume with the last cursor",
  unknownCursor: "cursor unknown to this journal (from another server or a reset)",
};

/**
 * Starts what the client asked for: live, from its cursor (the subscriber's resume), or a `tail`/`since`
 * backfill — reaching into the log files first when the journal does not go back that far.
 */
async function begin(
  deps: LogSessionDeps,
  filters: LogFilters,
  start: StreamStart,
  matches: (line: string) => boolean,
  sub: Subscriber,
): Promise<void> {
  const { journal } = deps;
  if (start.kind === "live") return sub.resume(null);
  if (start.kind === "cursor") return sub.resume(start.cursor);
  const from =
    start.kind === "tail"
      ? await findTailStart(journal, start.count, matches, journal.endSeq())
      : await findSinceStart(journal, start.ms);
  // The journal starts after what was asked for (a first start on an existing directory): the files first.
  if (deps.olderThanJournal !== undefined && from <= journal.startSeq()) {
    const older = await deps.olderThanJournal({ filters, start, fromSeq: from, matches });
    if (!(await sub.sendAtPace(older))) return;
  }
  return sub.catchUp(from - 1, "notify");
}

export function createLogSession(
  deps: LogSessionDeps,
  filters: LogFilters,
  start: StreamStart,
): SocketSession {
  const { hub, journal, limits, stats } = deps;
  const matches = createLineMatcher(filters, start.kind === "since" ? start.ms : null);
  const matchesFilters = start.kind === "since" ? createLineMatcher(filters) : matches;
  // A `since` start also filters by time; after it, a lagging client catches up by its filters alone.
  const source = createJournalSource(journal, matches);
  let peer: Peer | null = null;
  let subscriber: Subscriber | null = null;
  let topic: string | null = null;
  let closed = false;

  const member: LiveMember = {
    bufferedAmount: () => peer?.getBufferedAmount() ?? 0,
    onLag() {
      if (peer === null || topic === null) return;
      peer.unsubscribe(topic);
      topic = null;
      // Everything journaled so far that matched was queued on the topic: continue right after it.
      source.filter = matchesFilters;
      void subscriber?.catchUp(source.published(), "close");
    },
  };

  const goLive = () => {
    if (peer === null || closed) return;
    topic = hub.subscribe(filters, member);
    peer.subscribe(topic);
  };

  const onFailure = (error: unknown) => {
    if (error instanceof HistoryReset) {
      stats.closedBehindRetention++;
      peer?.close(CloseCode.BEHIND_RETENTION, "The log history was reset: resume with the last cursor");
      return;
    }
    deps.log("error", `log stream catch-up failed: ${String(error)}`);
    peer?.close(CloseCode.INTERNAL_ERROR, "Internal server error");
  };

  return {
    open(socket) {
      peer = socket;
      const sub = createSubscriber({
        peer: socket,
        source,
        limits,
        stats,
        protocol: LOG_PROTOCOL,
        joinLive: goLive,
        reached: (seq, timeoutMs) => hub.reached(seq, timeoutMs),
        onFailure,
      });
      subscriber = sub;
      if (!deps.directoryExists()) socket.send(LOG_DIRECTORY_MISSING);
      begin(deps, filters, start, matches, sub).catch((error: unknown) => {
        deps.log("error", `log stream start failed: ${String(error)}`);
        socket.close(CloseCode.INTERNAL_ERROR, "Internal server error");
      });
    },
    // The stream is one-way; whatever a client sends is ignored (browsers may send keepalives).
    message() {},
    drain() {
      subscriber?.drained();
    },
    close() {
      closed = true;
      if (topic !== null) hub.unsubscribe(topic, member);
      topic = null;
      peer = null;
      subscriber?.stop();
    },
  };
}
