/**
 * One record, one entry. github-webhook-server's main logger writes every record twice, back to back: a text
 * line in its `*.log` file and a `log_entry` line in that day's `webhooks_*.json`. The follower reads both, so
 * this window pairs the copies and lets one merged entry through.
 *
 * Pairing is by what both copies really share: the timestamp (canonical, so the same instant gives the same
 * string), level, logger and message (prefix taken off, ANSI and trailing newline gone, the traceback joined
 * in both). Context fields are not compared: the copies disagree there, and merging is what fixes that.
 *
 * A copy that may have a twin waits for it, in arrival order (an entry is never released before one that
 * arrived earlier), until the twin comes or TWIN_WAIT_MS has passed while the other format's files had nothing
 * left to read. Copies that cannot have one (summaries, raw lines, a logger only ever seen in one format, a
 * directory with one format) pass without waiting. A twin that arrives after its copy was released is dropped,
 * not streamed twice. Everything is bounded by count; positions of what is held are reported so a follower that
 * saves positions never saves past an entry it has not let through.
 */
import type { LogEntry } from "./entry.ts";
import type { LogFormat } from "./parse.ts";

/**
 * How long a copy waits for its twin once the other format's files are read to their end. The processor writes
 * both copies in one logging call and the follower polls a file that just grew every 2 ms, so a twin normally
 * comes within a few milliseconds; this bounds what a record without one (a text-only logger) waits.
 */
export const TWIN_WAIT_MS = 10;
/** Entries held at most; past it the oldest is released unpaired (a catch-up that read one file far ahead). */
export const TWIN_MAX_HELD = 10_000;
/** Held entries above which the file whose copy heads the window stops reading until the other catches up. */
export const TWIN_PAUSE_HELD = 2_000;
/** Keys of copies released unpaired, kept so a late twin is dropped rather than streamed again. */
export const TWIN_REMEMBER_MAX = 20_000;
/** ...and for this long: a twin later than this is no longer expected. */
export const TWIN_REMEMBER_MS = 60_000;
/** Unpaired releases in a row after which a logger is taken as writing one copy only (it then never waits). */
const SINGLE_COPY_AFTER = 3;
/** Logger names tracked for that; more names than this are not learned (they keep waiting). */
const MAX_TRACKED_LOGGERS = 1_024;
/** Messages longer than this are keyed by their hash, so remembered keys stay small. */
const MAX_KEY_MESSAGE_CHARS = 256;

export interface TwinSource {
  format: LogFormat;
  /** Identity of the file the copy was read from. */
  file: string;
  /** Where a reader must start again in that file to read this copy once more. */
  position: number;
}

export interface TwinStats {
  /** Records whose two copies were merged into one entry. */
  pairsMerged: number;
  /** Copies released after waiting without their twin coming. */
  twinNeverCame: number;
  /** Twins that came after their copy was released, dropped. */
  lateTwinsDropped: number;
  /** Copies released early because TWIN_MAX_HELD was reached. */
  releasedAtLimit: number;
  /** Entries held now. */
  held: number;
}

export interface TwinWindow {
  /** Takes one entry as read; releases whatever is ready (this one, earlier ones). */
  offer(entry: LogEntry, source: TwinSource): void;
  /** Releases what waited long enough; returns how many entries were let through. */
  release(): number;
  /** Entries held now. */
  held(): number;
  /** Whether a file of this format should stop reading: the window is full of its copies. */
  mustPause(format: LogFormat): boolean;
  /** Resolves when the window has room again (or at once). */
  room(): Promise<void>;
  /** Per file identity: the earliest position of an entry still held from it. */
  heldPositions(): Map<string, number>;
  stats(): TwinStats;
}

export interface TwinWindowOptions {
  emit(entry: LogEntry): void;
  /** Whether a file of this format still has bytes being read (a twin may be among them). */
  formatBusy(format: LogFormat): boolean;
  /** A copy started waiting for a twin of this format while none waited: look for it promptly. */
  expecting?(format: LogFormat): void;
  now?: () => number;
  waitMs?: number;
  maxHeld?: number;
  pauseHeld?: number;
  rememberMax?: number;
  rememberMs?: number;
}

interface Held {
  entry: LogEntry;
  /** null: released as soon as it reaches the head (it cannot have a twin). */
  key: string | null;
  format: LogFormat;
  sources: TwinSource[];
  deadline: number;
  paired: boolean;
}

const CONTEXT_FIELDS = [
  "hook_id",
  "event_type",
  "repository",
  "pr_number",
  "github_user",
  "task_id",
  "task_type",
  "task_status",
  "token_spend",
] as const;

function isEmpty(value: unknown): boolean {
  return value === null || value === undefined || value === "";
}

/**
 * The one entry of a pair: the JSON copy (the processor's structured record) with every context field it
 * lacks — null or empty — taken from the text copy. The message and traceback are the same in both.
 */
export function mergeTwins(json: LogEntry, text: LogEntry): LogEntry {
  const merged: LogEntry = { ...json };
  const target = merged as unknown as Record<string, unknown>;
  const source = text as unknown as Record<string, unknown>;
  for (const field of CONTEXT_FIELDS) {
    if (isEmpty(target[field]) && !isEmpty(source[field])) target[field] = source[field];
  }
  return merged;
}

/** The pairing key, or null for entries that have no twin to wait for. */
export function twinKey(entry: LogEntry): string | null {
  if (entry.level === "UNKNOWN" || entry.summary !== undefined || entry.truncated === true) return null;
  const message =
    entry.message.length > MAX_KEY_MESSAGE_CHARS
      ? `#${Bun.hash(entry.message).toString(36)}:${entry.message.length}`
      : entry.message;
  return `${entry.timestamp}\u0000${entry.level}\u0000${entry.logger_name ?? ""}\u0000${message}`;
}

const otherFormat = (format: LogFormat): LogFormat => (format === "json" ? "text" : "json");

export function createTwinWindow(options: TwinWindowOptions): TwinWindow {
  const now = options.now ?? Date.now;
  const waitMs = options.waitMs ?? TWIN_WAIT_MS;
  const maxHeld = options.maxHeld ?? TWIN_MAX_HELD;
  const pauseHeld = options.pauseHeld ?? TWIN_PAUSE_HELD;
  const rememberMax = options.rememberMax ?? TWIN_REMEMBER_MAX;
  const rememberMs = options.rememberMs ?? TWIN_REMEMBER_MS;

  /** Held entries in arrival order; `head` indexes the first still held. */
  let queue: Held[] = [];
  let head = 0;
  /** Held copies still waiting for a twin, by key (copies pair one to one: a key may hold several). */
  const waiting = new Map<string, Held[]>();
  /** Copies released unpaired: key → formats released, with when (for expiry); insertion order is age. */
  const released = new Map<string, { formats: LogFormat[]; at: number }>();
  const seenFormats = new Set<LogFormat>();
  /** Per logger: unpaired releases in a row (a pairing resets it). */
  const unpairedRun = new Map<string, number>();
  let roomWaiters: Array<() => void> = [];
  const stats = { pairsMerged: 0, twinNeverCame: 0, lateTwinsDropped: 0, releasedAtLimit: 0 };

  const heldCount = () => queue.length - head;

  const dropWaiting = (item: Held) => {
    if (item.key === null) return;
    const list = waiting.get(item.key);
    if (list === undefined) return;
    const i = list.indexOf(item);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) waiting.delete(item.key);
  };

  const noteLogger = (entry: LogEntry, paired: boolean) => {
    const logger = entry.logger_name ?? "";
    if (paired) {
      unpairedRun.delete(logger);
      return;
    }
    if (!unpairedRun.has(logger) && unpairedRun.size >= MAX_TRACKED_LOGGERS) return;
    unpairedRun.set(logger, (unpairedRun.get(logger) ?? 0) + 1);
  };

  const remember = (key: string, format: LogFormat, at: number) => {
    const known = released.get(key);
    if (known !== undefined) known.formats.push(format);
    else released.set(key, { formats: [format], at });
    while (released.size > rememberMax) {
      const oldest = released.keys().next().value as string;
      released.delete(oldest);
    }
  };

  const forgetOld = (at: number) => {
    for (const [key, value] of released) {
      if (at - value.at < rememberMs) break;
      released.delete(key);
    }
  };

  /** Whether a copy released unpaired is this one's twin; consumes it. */
  const takeReleasedTwin = (key: string, format: LogFormat): boolean => {
    const known = released.get(key);
    if (known === undefined) return false;
    const i = known.formats.indexOf(otherFormat(format));
    if (i === -1) return false;
    known.formats.splice(i, 1);
    if (known.formats.length === 0) released.delete(key);
    return true;
  };

  const shouldWait = (entry: LogEntry, format: LogFormat): boolean =>
    seenFormats.has(otherFormat(format)) &&
    (unpairedRun.get(entry.logger_name ?? "") ?? 0) < SINGLE_COPY_AFTER;

  const emitHead = (item: Held, unpaired: boolean, at: number) => {
    head++;
    if (unpaired && item.key !== null) {
      dropWaiting(item);
      remember(item.key, item.format, at);
      noteLogger(item.entry, false);
    }
    options.emit(item.entry);
  };

  const release = (): number => {
    let count = 0;
    const at = now();
    while (head < queue.length) {
      const item = queue[head] as Held;
      if (item.paired || item.key === null) {
        emitHead(item, false, at);
      } else if (heldCount() > maxHeld) {
        stats.releasedAtLimit++;
        emitHead(item, true, at);
      } else if (item.deadline <= at && !options.formatBusy(otherFormat(item.format))) {
        stats.twinNeverCame++;
        emitHead(item, true, at);
      } else {
        break;
      }
      count++;
    }
    if (head === queue.length) {
      queue = [];
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    if (roomWaiters.length > 0 && heldCount() <= pauseHeld / 2) {
      const waiters = roomWaiters;
      roomWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (count > 0) forgetOld(at);
    return count;
  };

  return {
    offer(entry, source) {
      seenFormats.add(source.format);
      const key = twinKey(entry);
      if (key !== null) {
        const twin = waiting.get(key)?.find((held) => held.format !== source.format);
        if (twin !== undefined) {
          dropWaiting(twin);
          twin.entry =
            source.format === "json" ? mergeTwins(entry, twin.entry) : mergeTwins(twin.entry, entry);
          twin.sources.push(source);
          twin.paired = true;
          stats.pairsMerged++;
          noteLogger(entry, true);
          release();
          return;
        }
        if (takeReleasedTwin(key, source.format)) {
          stats.lateTwinsDropped++;
          noteLogger(entry, true);
          return;
        }
      }
      const waits = key !== null && shouldWait(entry, source.format);
      const item: Held = {
        entry,
        key: waits ? key : null,
        format: source.format,
        sources: [source],
        deadline: now() + waitMs,
        paired: false,
      };
      if (waits && key !== null) {
        if (waiting.size === 0) options.expecting?.(otherFormat(source.format));
        const list = waiting.get(key);
        if (list === undefined) waiting.set(key, [item]);
        else list.push(item);
      } else if (key !== null) {
        // Released without waiting: a late twin must still find it.
        remember(key, source.format, now());
      }
      queue.push(item);
      release();
    },
    release,
    held: heldCount,
    mustPause(format) {
      if (heldCount() <= pauseHeld) return false;
      const first = queue[head];
      return first !== undefined && !first.paired && first.format === format;
    },
    room() {
      if (heldCount() <= pauseHeld / 2) return Promise.resolve();
      return new Promise((resolve) => roomWaiters.push(resolve));
    },
    heldPositions() {
      const positions = new Map<string, number>();
      for (let i = head; i < queue.length; i++) {
        for (const source of (queue[i] as Held).sources) {
          const known = positions.get(source.file);
          if (known === undefined || source.position < known) positions.set(source.file, source.position);
        }
      }
      return positions;
    },
    stats: () => ({ ...stats, held: heldCount() }),
  };
}
