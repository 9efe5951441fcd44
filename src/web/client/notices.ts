/**
 * Where the page tells the user what is going on: the connection badge, the counts and the history status
 * in the toolbar, the dismissable notices above the list (a gap, a server error) and the empty list's text.
 * The wording is in notice-text.ts.
 */
import { byId, h } from "./dom.ts";
import type { HistoryState } from "./history.ts";
import {
  type Counts,
  connectionBadge,
  countsText,
  historyStatusText,
  type Notice,
  olderButtonText,
  waitingText,
} from "./notice-text.ts";
import type { ConnectionState } from "./stream.ts";

export interface Notices {
  connection(state: ConnectionState, paused: boolean, held: number): void;
  counts(counts: Counts): void;
  history(state: HistoryState): void;
  /** A short status in the toolbar (e.g. "Link copied"). */
  say(text: string): void;
  /** Shows `notice` unless one with its key is already shown. */
  show(notice: Notice): void;
  /** Removes every notice and says the list waits for entries (the filters changed). */
  restart(historyMode: boolean): void;
}

export function createNotices(): Notices {
  const connection = byId("connection", HTMLElement);
  const connectionLabel = byId("connection-text", HTMLElement);
  const counts = byId("counts", HTMLElement);
  const toolbarStatus = byId("toolbar-status", HTMLElement);
  const notices = byId("notices", HTMLElement);
  const viewport = byId("log-viewport", HTMLElement);
  const empty = byId("empty", HTMLElement);
  const olderButton = byId("load-older", HTMLButtonElement);

  return {
    connection(state, paused, held) {
      const badge = connectionBadge(state, paused, held);
      connection.dataset.state = badge.state;
      connectionLabel.textContent = badge.text;
      viewport.setAttribute("aria-busy", String(state.kind === "connecting"));
      if (state.kind === "failed") empty.textContent = `Not streaming: ${state.message}`;
    },
    counts(shown) {
      counts.textContent = countsText(shown);
      empty.hidden = shown.entries > 0;
    },
    history(state) {
      // Not disabled while loading: a disabled button would drop the keyboard focus; repeat presses are ignored.
      olderButton.disabled = state.exhausted || state.unavailable !== null;
      olderButton.setAttribute("aria-busy", String(state.loading));
      olderButton.textContent = olderButtonText(state);
      olderButton.title = state.unavailable ?? "";
      toolbarStatus.textContent = historyStatusText(state);
    },
    say(text) {
      toolbarStatus.textContent = text;
    },
    show({ key, kind, text }) {
      if (notices.querySelector(`[data-key="${CSS.escape(key)}"]`) !== null) return;
      const dismiss = h("button", { class: "quiet", text: "Dismiss", attrs: { type: "button" } });
      const notice = h(
        "div",
        { class: `notice ${kind}`, attrs: { role: kind === "info" ? "status" : "alert" }, data: { key } },
        h("span", { text }),
        dismiss,
      );
      dismiss.addEventListener("click", () => notice.remove());
      notices.appendChild(notice);
    },
    restart(historyMode) {
      notices.replaceChildren();
      empty.textContent = waitingText(historyMode);
    },
  };
}
