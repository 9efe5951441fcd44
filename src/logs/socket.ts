/**
 * One `/logs/ws` connection. It is either *live* (subscribed to the canonical topic of its filters, fed by
 * Bun's fan-out) or *catching up* (fed from the journal at its own pace). Catch-up is how a client starts
 * from a cursor, `tail=N` or `since=T`, and how a slow client is served: when its send buffer passes the lag
 * limit the hub takes it off the live topic, and it continues from the journal right after the last entry
 * the topic queued for it — then rejoins the live topic once it has caught up. Switching happens in one
 * synchronous step at the journal's end, so there is no gap and no duplicate at the seam.
 */
import type { LiveMember, LogHub } from "../hub/log-hub.ts";
import type { LogFilters } from "../hub/topics.ts";
import { createDrainWaiter } from "../transport/drain.ts";
import { CloseCode, type Peer, type SocketSession } from "../transport/peer.ts";
import type { Journal } from "./journal.ts";
import { findSinceStart, findTailStart, RetentionGap, readJournal } from "./journal-read.ts";
import { createLineMatcher } from "./line-match.ts";

export const LOG_DIRECTORY_MISSING = JSON.stringify({ error: "Log directory not found" });

export type StreamStart =
  | { kind: "live" }
  | { kind: "cursor"; cursor: string }
  | { kind: "tail"; count: number }
  | { kind: "since"; ms: number };

export interface LogStreamLimits {
  /** Queued bytes under which catch-up keeps sending; above it, it waits for the socket to drain. */
  catchUpHighWaterBytes: number;
  /** A socket that drains nothing for this long while behind is closed (it can resume with its cursor). */
  stallTimeoutMs: number;
  /**
   * Cluster mode: how long a cursor ahead of this instance's journal is waited for. Every journal mirrors one
   * stream, and the instance that gave out the cursor may simply have mirrored a little sooner.
   */
  cursorAheadWaitMs?: number;
}

export interface LogStreamStats {
  /** Sockets currently fed from the journal (starting from a cursor/backfill, or lagging). */
  catchingUp: number;
  closedTooSlow: number;
  closedBehindRetention: number;
  gapsReported: number;
}

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

/** Sent once, when a client that asked for `cursor`, `tail` or `since` has its backfill and is live. */
const LIVE_NOTICE = JSON.stringify({ control: "live" });

/** Control messages are objects with a `control` key; only clients that asked for cursors receive them. */
function gapNotice(requested: string | null, resumedFrom: string, reason: string): string {
  return JSON.stringify({ control: "gap", requested, resumed_from: resumedFrom, message: reason });
}

export function createLogSession(
  deps: LogSessionDeps,
  filters: LogFilters,
  start: StreamStart,
): SocketSession {
  const { hub, journal, limits, stats } = deps;
  const matches = createLineMatcher(filters, start.kind === "since" ? start.ms : null);
  const matchesFilters = start.kind === "since" ? createLineMatcher(filters) : matches;
  let peer: Peer | null = null;
  let topic: string | null = null;
  let closed = false;
  let catchingUp = false;

  const member: LiveMember = {
    bufferedAmount: () => peer?.getBufferedAmount() ?? 0,
    onLag() {
      if (peer === null || topic === null) return;
      peer.unsubscribe(topic);
      topic = null;
      // Everything journaled so far that matched was queued on the topic: continue right after it.
      void catchUp(journal.endSeq(), matchesFilters, "close");
    },
  };

  /** Whether to mark the switch from backfill to live: only for clients that asked for a starting point. */
  let announceLive = start.kind !== "live";

  const goLive = () => {
    if (peer === null || closed) return;
    topic = hub.subscribe(filters, member);
    peer.subscribe(topic);
    if (announceLive) {
      announceLive = false;
      peer.send(LIVE_NOTICE);
    }
  };

  // Closed sockets count as drained so a waiting catch-up wakes up and sees that it is closed.
  const drain = createDrainWaiter(
    () => peer === null || peer.getBufferedAmount() <= limits.catchUpHighWaterBytes,
    limits.stallTimeoutMs,
  );

  /**
   * Sends matching journal lines from `fromSeq` at the socket's pace, then goes live. `onGap` says what to do
   * when the position is older than the journal retains: tell the client and continue from the oldest entry
   * (a requested start), or close (a lagging client, which resumes with its last cursor and is told then).
   */
  async function catchUp(
    fromSeq: number,
    lineMatches: (line: string) => boolean,
    onGap: "notify" | "close",
    requested: string | null = null,
  ) {
    if (catchingUp) return;
    catchingUp = true;
    stats.catchingUp++;
    let seq = fromSeq;
    const epoch = journal.epoch;
    try {
      while (!closed) {
        // The mirrored history was replaced (the shared Redis lost its data): positions in the old one mean
        // nothing now. The client resumes, and its old cursor is reported unknown.
        if (journal.epoch !== epoch) {
          stats.closedBehindRetention++;
          peer?.close(CloseCode.BEHIND_RETENTION, "The log history was reset: resume with the last cursor");
          return;
        }
        if (seq < journal.startSeq()) {
          const resumed = journal.startSeq();
          if (onGap === "close") {
            stats.closedBehindRetention++;
            peer?.close(
              CloseCode.BEHIND_RETENTION,
              "Fell behind the journal's retention: resume with the last cursor",
            );
            return;
          }
          stats.gapsReported++;
          peer?.send(
            gapNotice(
              requested ?? journal.cursorOf(seq),
              journal.cursorOf(resumed),
              "entries before resumed_from are no longer retained",
            ),
          );
          seq = resumed;
        }
        try {
          for await (const batch of readJournal(journal, seq)) {
            if (closed || peer === null) return;
            if (peer.getBufferedAmount() > limits.catchUpHighWaterBytes && !(await drain.wait())) {
              stats.closedTooSlow++;
              peer?.close(CloseCode.TOO_SLOW, "Client too slow: resume with the last cursor");
              return;
            }
            if (closed || peer === null) return;
            const socket = peer;
            socket.cork(() => {
              for (const { seq: lineSeq, line } of batch) {
                if (lineMatches(line)) socket.send(line);
                seq = lineSeq + 1;
              }
            });
          }
        } catch (error) {
          if (error instanceof RetentionGap) continue; // the loop handles the gap and restarts
          throw error;
        }
        // Caught up: the journal's end is our position, and joining the topic now, in the same synchronous
        // step, means the next entry reaches us live and nothing in between is lost or repeated.
        if (seq === journal.endSeq()) {
          goLive();
          return;
        }
      }
    } catch (error) {
      if (journal.epoch !== epoch) {
        stats.closedBehindRetention++;
        peer?.close(CloseCode.BEHIND_RETENTION, "The log history was reset: resume with the last cursor");
        return;
      }
      deps.log("error", `log stream catch-up failed: ${String(error)}`);
      peer?.close(CloseCode.INTERNAL_ERROR, "Internal server error");
    } finally {
      catchingUp = false;
      stats.catchingUp--;
    }
  }

  /** Waits, bounded, until this journal holds entries up to `seq` (see `cursorAheadWaitMs`). */
  async function mirrorReaches(seq: number) {
    const deadline = Date.now() + (limits.cursorAheadWaitMs ?? 0);
    while (journal.endSeq() < seq && !closed && Date.now() < deadline) await Bun.sleep(10);
  }

  /** Sends the files' part of a backfill at the socket's pace; false when the socket is gone or too slow. */
  async function sendOlder(lines: readonly string[]): Promise<boolean> {
    for (const line of lines) {
      if (closed || peer === null) return false;
      if (peer.getBufferedAmount() > limits.catchUpHighWaterBytes && !(await drain.wait())) {
        stats.closedTooSlow++;
        peer?.close(CloseCode.TOO_SLOW, "Client too slow: resume with the last cursor");
        return false;
      }
      peer?.send(line);
    }
    return !closed && peer !== null;
  }

  async function begin() {
    if (start.kind === "live") return goLive();
    const end = journal.endSeq();
    if (start.kind === "cursor") {
      const parsed = journal.parseCursor(start.cursor);
      if (parsed.kind === "valid") {
        await mirrorReaches(parsed.seq + 1);
        // Still ahead (a journal restored from a backup): continue from the newest entry.
        return catchUp(Math.min(parsed.seq + 1, journal.endSeq()), matches, "notify", start.cursor);
      }
      stats.gapsReported++;
      const resumed = journal.cursorOf(journal.startSeq());
      peer?.send(
        gapNotice(start.cursor, resumed, "cursor unknown to this journal (from another server or a reset)"),
      );
      return catchUp(journal.startSeq(), matches, "notify");
    }
    const from =
      start.kind === "tail"
        ? await findTailStart(journal, start.count, matches, end)
        : await findSinceStart(journal, start.ms);
    // The journal starts after what was asked for (a first start on an existing directory): the files first.
    if (deps.olderThanJournal !== undefined && from <= journal.startSeq()) {
      const older = await deps.olderThanJournal({ filters, start, fromSeq: from, matches });
      if (!(await sendOlder(older))) return;
    }
    return catchUp(from, matches, "notify");
  }

  return {
    open(socket) {
      peer = socket;
      if (!deps.directoryExists()) socket.send(LOG_DIRECTORY_MISSING);
      begin().catch((error: unknown) => {
        deps.log("error", `log stream start failed: ${String(error)}`);
        socket.close(CloseCode.INTERNAL_ERROR, "Internal server error");
      });
    },
    // The stream is one-way; whatever a client sends is ignored (browsers may send keepalives).
    message() {},
    drain() {
      drain.drained();
    },
    close() {
      closed = true;
      if (topic !== null) hub.unsubscribe(topic, member);
      topic = null;
      peer = null;
      drain.drained();
    },
  };
}
