/**
 * The log view's toolbar: Pause/Resume, Load older, Copy link and the export links, which follow the filters.
 * The buttons only report presses; what they do is wired by the page.
 */
import { byId } from "./dom.ts";
import { exportUrl, type PageQuery } from "./query.ts";

export interface ToolbarActions {
  /** Pauses or resumes; returns whether the view is paused now. */
  togglePause(): boolean;
  loadOlder(): void;
  copyLink(): void;
}

export interface Toolbar {
  /** Points the export links at `query`'s entries. */
  follow(query: PageQuery): void;
}

export function setUpToolbar(actions: ToolbarActions): Toolbar {
  const pauseButton = byId("pause", HTMLButtonElement);
  const exportNdjson = byId("export-ndjson", HTMLAnchorElement);
  const exportJson = byId("export-json", HTMLAnchorElement);
  pauseButton.addEventListener("click", () => {
    const paused = actions.togglePause();
    // The label says what a press does; no aria-pressed, whose label would have to stay the same.
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.classList.toggle("active", paused);
  });
  byId("load-older", HTMLButtonElement).addEventListener("click", () => actions.loadOlder());
  byId("copy-link", HTMLButtonElement).addEventListener("click", () => actions.copyLink());
  return {
    follow(query) {
      exportNdjson.href = exportUrl(query, "ndjson");
      exportJson.href = exportUrl(query, "json");
    },
  };
}
