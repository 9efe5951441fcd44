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
  /** Whether any file of this format is followed: where none is, a copy let through needs no remembering. */
  formatPresent?(format: LogFormat): boolean;
  now?: () => number;
  waitMs?: number;
  maxHeld?: number;
  pauseHeld?: number;
  rememberMax?: number;
  rememberMs?: number;
}

interface Released {
  /** The record as far as pairing needs it; a long message only by its fingerprint, to bound memory. */
  level: string;
  logger: string | null;
  fingerprint: string;
  timestamp: string;
  format: LogFormat;
  at: number;
}

interface Held {
  entry: LogEntry;
  /** false: released as soon as it reaches the head (it cannot have a twin, or does not wait for one). */
  waits: boolean;
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

/** Whether an entry can have a twin at all: raw lines, summaries and cut lines exist in one copy. */
function pairable(entry: LogEntry): boolean {
  return entry.level !== "UNKNOWN" && entry.summary === undefined && entry.truncated !== true;
}

/** The message as remembered: itself, or its hash and length when long. */
function fingerprintOf(message: string): string {
  return message.length > MAX_KEY_MESSAGE_CHARS
    ? `#${Bun.hash(message).toString(36)}:${message.length}`
    : message;
}

/** The pairing key as one string (for sets of keys), or null for entries that have no twin. */
export function twinKey(entry: LogEntry): string | null {
  if (!pairable(entry)) return null;
  return `${entry.timestamp}\u0000${entry.level}\u0000${entry.logger_name ?? ""}\u0000${fingerprintOf(entry.message)}`;
}

/** Copies of one record: same instant (the caller looked it up by timestamp), level, logger and message. */
function sameRecord(a: LogEntry, b: LogEntry): boolean {
  return a.level === b.level && a.logger_name === b.logger_name && a.message === b.message;
}

const otherFormat = (format: LogFormat): LogFormat => (format === "json" ? "text" : "json");

/** A map from timestamp to a short list; lookups hash a 32-character string, not a whole message. */
function listPush<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [item]);
  else list.push(item);
}

function listRemove<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list === undefined) return;
  const i = list.indexOf(item);
  if (i !== -1) list.splice(i, 1);
  if (list.length === 0) map.delete(key);
}

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
  /** Held copies still waiting for a twin, by timestamp (copies pair one to one: a record may be there twice). */
  const waiting = new Map<string, Held[]>();
  /**
   * Copies released unpaired, oldest first in a ring (a Map iterated from its front after many deletes
   * slows down with the deleted slots it skips: measured 60 µs a line), and by timestamp for the lookup.
   */
  const ring: Array<Released | undefined> = [];
  let ringStart = 0;
  let ringSize = 0;
  const released = new Map<string, Released[]>();
  const seenFormats = new Set<LogFormat>();
  /** Per logger: unpaired releases in a row (a pairing resets it). */
  const unpairedRun = new Map<string, number>();
  const stats = { pairsMerged: 0, twinNeverCame: 0, lateTwinsDropped: 0, releasedAtLimit: 0 };

  const heldCount = () => queue.length - head;

  const noteLogger = (entry: LogEntry, paired: boolean) => {
    const logger = entry.logger_name ?? "";
    if (paired) {
      if (unpairedRun.size > 0) unpairedRun.delete(logger);
      return;
    }
    if (!unpairedRun.has(logger) && unpairedRun.size >= MAX_TRACKED_LOGGERS) return;
    unpairedRun.set(logger, (unpairedRun.get(logger) ?? 0) + 1);
  };

  const forgetOldest = () => {
    const oldest = ring[ringStart] as Released;
    ring[ringStart] = undefined;
    ringStart = (ringStart + 1) % rememberMax;
    ringSize--;
    listRemove(released, oldest.timestamp, oldest);
  };

  const remember = (entry: LogEntry, format: LogFormat, at: number) => {
    if (ringSize === rememberMax) forgetOldest();
    const item: Released = {
      level: entry.level,
      logger: entry.logger_name,
      fingerprint: fingerprintOf(entry.message),
      timestamp: entry.timestamp,
      format,
      at,
    };
    ring[(ringStart + ringSize) % rememberMax] = item;
    ringSize++;
    listPush(released, entry.timestamp, item);
  };

  const forgetOld = (at: number) => {
    while (ringSize > 0 && at - (ring[ringStart] as Released).at >= rememberMs) forgetOldest();
  };

  /** Whether a copy released unpaired is this one's twin; consumes it (it stays in the ring, unlinked). */
  const takeReleasedTwin = (entry: LogEntry, format: LogFormat): boolean => {
    const list = released.get(entry.timestamp);
    if (list === undefined) return false;
    const fingerprint = fingerprintOf(entry.message);
    const twin = list.find(
      (item) =>
        item.format !== format &&
        item.level === entry.level &&
        item.logger === entry.logger_name &&
        item.fingerprint === fingerprint,
    );
    if (twin === undefined) return false;
    listRemove(released, entry.timestamp, twin);
    return true;
  };

  /**
   * A copy waits where the other format has been seen, or has files not read yet (at start-up the JSON copy
   * of the first records may be read before the text file), unless its logger writes one copy only.
   */
  const shouldWait = (entry: LogEntry, format: LogFormat): boolean => {
    const other = otherFormat(format);
    if (!seenFormats.has(other) && options.formatPresent?.(other) === false) return false;
    return (unpairedRun.get(entry.logger_name ?? "") ?? 0) < SINGLE_COPY_AFTER;
  };

  /** Whether a file of this format should stop reading: the window is full of its unpaired copies. */
  const mustPause = (format: LogFormat): boolean => {
    if (heldCount() <= pauseHeld) return false;
    const first = queue[head];
    return first !== undefined && !first.paired && first.format === format;
  };

  /** `unpaired`: let through without its twin; `waitedOut`: because its wait ended, not because of the bound. */
  const emitHead = (item: Held, unpaired: boolean, at: number, waitedOut = unpaired) => {
    head++;
    if (unpaired) {
      listRemove(waiting, item.entry.timestamp, item);
      remember(item.entry, item.format, at);
      // It waited until the other format had nothing left to read (files not opened yet count by their
      // size), so its twin is not there: a lesson about its logger, whether or not that format was seen.
      if (waitedOut) noteLogger(item.entry, false);
    }
    options.emit(item.entry);
  };

  const release = (): number => {
    let count = 0;
    const at = now();
    while (head < queue.length) {
      const item = queue[head] as Held;
      if (item.paired || !item.waits) {
        emitHead(item, false, at);
      } else if (heldCount() > maxHeld) {
        stats.releasedAtLimit++;
        emitHead(item, true, at, false);
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
    if (count > 0 && ringSize > 0) forgetOld(at);
    return count;
  };

  return {
    offer(entry, source) {
      const format = source.format;
      seenFormats.add(format);
      const other = otherFormat(format);
      // The common case of a directory with one format: nothing held, nothing of the other format seen or
      // followed, so nothing waits and nothing remembered can be this entry's twin (those are of its format).
      if (head === queue.length && !seenFormats.has(other) && options.formatPresent?.(other) === false) {
        options.emit(entry);
        return;
      }
      const canPair = pairable(entry);
      if (canPair) {
        const twin = waiting
          .get(entry.timestamp)
          ?.find((held) => held.format !== format && sameRecord(held.entry, entry));
        if (twin !== undefined) {
          listRemove(waiting, entry.timestamp, twin);
          twin.entry = format === "json" ? mergeTwins(entry, twin.entry) : mergeTwins(twin.entry, entry);
          twin.sources.push(source);
          twin.paired = true;
          stats.pairsMerged++;
          noteLogger(entry, true);
          release();
          return;
        }
        if (released.size > 0 && takeReleasedTwin(entry, format)) {
          stats.lateTwinsDropped++;
          noteLogger(entry, true);
          return;
        }
      }
      const waits = canPair && shouldWait(entry, format);
      if (!waits) {
        // A twin that still comes must find it; none can come from a format never seen.
        if (canPair && seenFormats.has(other)) remember(entry, format, now());
        if (head === queue.length) {
          options.emit(entry); // nothing held before it: no order to keep
          return;
        }
      }
      const item: Held = { entry, waits, format, sources: [source], deadline: now() + waitMs, paired: false };
      if (waits) {
        if (waiting.size === 0) options.expecting?.(other);
        listPush(waiting, entry.timestamp, item);
      }
      queue.push(item);
      release();
    },
    release,
    held: heldCount,
    mustPause,
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
