/**
 * What the page says about itself, as pure functions of its state: the connection badge, the counts, the
 * history button and status, and the notices for a gap or a server error. No DOM.
 */
import type { HistoryState } from "./history.ts";
import type { ConnectionState } from "./stream.ts";
import type { GapNotice } from "./stream-messages.ts";

export interface Notice {
  /** One notice per key is shown at a time. */
  key: string;
  kind: "warning" | "error" | "info";
  text: string;
}

const count = (n: number) => n.toLocaleString("en");

export function connectionText(state: ConnectionState): string {
  switch (state.kind) {
    case "connecting":
      return "Connecting…";
    case "catching_up":
      return "Reconnected, catching up…";
    case "live":
      return "Live";
    case "reconnecting":
      return `Reconnecting in ${(state.inMs / 1000).toFixed(1)} s (attempt ${state.attempt}): ${state.reason}`;
    case "suspended":
      return "Paused: stream held, resumes from the last entry";
    case "failed":
      return `Stopped: ${state.message}`;
  }
}

/** The connection badge: while paused it counts what is held, unless the stream has stopped for good. */
export function connectionBadge(
  state: ConnectionState,
  paused: boolean,
  held: number,
): { state: ConnectionState["kind"] | "paused"; text: string } {
  if (paused && state.kind !== "failed")
    return { state: "paused", text: `Paused: ${count(held)} new entries buffered` };
  return { state: state.kind, text: connectionText(state) };
}

export interface Counts {
  entries: number;
  droppedOldest: number;
  /** The list's bound, named when older entries were dropped. */
  maxEntries: number;
  /** Entries held by the pause; null when not paused. */
  held: number | null;
}

export function countsText(counts: Counts): string {
  const parts = [`${count(counts.entries)} entries`];
  if (counts.droppedOldest > 0)
    parts.push(
      `${count(counts.droppedOldest)} older dropped from view (keeping the newest ${count(counts.maxEntries)})`,
    );
  if (counts.held !== null) parts.push(`${count(counts.held)} new while paused`);
  return parts.join(" · ");
}

export function olderButtonText(state: HistoryState): string {
  return state.loading ? "Loading…" : state.exhausted ? "No older entries" : "Load older";
}

export function historyStatusText(state: HistoryState): string {
  const parts: string[] = [];
  if (state.unavailable !== null) parts.push(state.unavailable);
  if (state.error !== null) parts.push(state.error);
  if (!state.loading && state.lastTookMs !== null)
    parts.push(
      `${count(state.lastAdded)} older entries loaded in ${state.lastTookMs} ms${state.partial ? " (search incomplete)" : ""}`,
    );
  return parts.join(" · ");
}

export function gapNotice(notice: GapNotice): Notice {
  return {
    key: `gap-${notice.resumed_from}`,
    kind: "warning",
    text: `Some entries were missed: the server no longer holds entries before ${notice.resumed_from} (asked to resume after ${notice.requested}). ${notice.message}`,
  };
}

export function serverErrorNotice(message: string): Notice {
  return { key: `server-${message}`, kind: "error", text: `Server: ${message}` };
}

/** What the empty list says while nothing matches yet. */
export function waitingText(historyMode: boolean): string {
  return historyMode ? "No matching entries yet…" : "Waiting for log entries…";
}
