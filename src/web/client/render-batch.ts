/**
 * Incoming entries are batched and moved into the list at most once per animation frame, with one render
 * of the view after them, however fast they arrive.
 */
import type { LogEntry } from "../../logs/entry.ts";
import type { EntryList } from "./entry-list.ts";
import type { LogView } from "./log-view.ts";

/** Entries held between frames before the list takes them anyway (no frames come while the tab is hidden). */
const MAX_PENDING = 10_000;

export interface RenderBatch {
  /** Queues an entry for the next frame (and asks for one). */
  add(entry: LogEntry): void;
  /** Queues entries held back (by the pause) for the next frame, in one go. */
  release(entries: readonly LogEntry[]): void;
  /** Drops what is queued (the filters changed). */
  clear(): void;
  /** Asks for a frame, if none is asked for yet. */
  schedule(): void;
}

export interface RenderBatchOptions {
  list: EntryList;
  view: Pick<LogView, "keepAnchor" | "render">;
  /** Runs after each frame's render. */
  rendered(): void;
}

export function createRenderBatch(options: RenderBatchOptions): RenderBatch {
  const { list, view } = options;
  let pending: LogEntry[] = [];
  let frame = 0;

  /** Moves the entries received since the last frame into the list (which bounds and counts them). */
  const ingest = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    view.keepAnchor(() => list.append(batch));
  };

  const flush = () => {
    frame = 0;
    ingest();
    view.render();
    options.rendered();
  };

  const schedule = () => {
    if (frame === 0) frame = requestAnimationFrame(flush);
  };

  return {
    add(entry) {
      pending.push(entry);
      // A hidden tab gets no animation frames: the list takes the entries without a render meanwhile.
      if (pending.length >= MAX_PENDING) ingest();
      schedule();
    },
    release(entries) {
      pending.push(...entries);
      schedule();
    },
    clear() {
      pending = [];
    },
    schedule,
  };
}
