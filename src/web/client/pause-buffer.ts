/**
 * What the page holds while paused: entries that arrive are kept, not shown, up to a bound; at the bound the
 * page suspends the stream, which resumes from its cursor, so nothing is lost and memory stays bounded. No DOM.
 */
import type { LogEntry } from "../../logs/entry.ts";

/** Entries kept while paused; when full the stream is closed and resumed from its cursor on resume. */
export const PAUSE_BUFFER_MAX = 50_000;

/** What became of an arriving entry: to be shown now, held, or held and the buffer is now full. */
export type Arrival = "show" | "held" | "full";

export interface PauseBuffer {
  readonly paused: boolean;
  /** Entries held since the pause. */
  readonly held: number;
  offer(entry: LogEntry): Arrival;
  /** Pauses or resumes; resuming hands back the held entries, oldest first. */
  toggle(): LogEntry[];
  /** Forgets the held entries (the filters changed); paused stays as it is. */
  clear(): void;
}

export function createPauseBuffer(max: number = PAUSE_BUFFER_MAX): PauseBuffer {
  let paused = false;
  let held: LogEntry[] = [];
  return {
    get paused() {
      return paused;
    },
    get held() {
      return held.length;
    },
    offer(entry) {
      if (!paused) return "show";
      held.push(entry);
      return held.length >= max ? "full" : "held";
    },
    toggle() {
      paused = !paused;
      if (paused) return [];
      const released = held;
      held = [];
      return released;
    },
    clear() {
      held = [];
    },
  };
}
