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
import {
  createLoggerLessons,
  createReleasedCopies,
  fingerprintOf,
  type LoggerLessons,
  listPush,
  listRemove,
  type ReleasedCopies,
} from "./twin-memory.ts";

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
/**
 * Copies let through at once before any copy of the other format was read, while files of it are there,
 * remembered at most: a logger taken as writing one copy that early may still get twins, and they must be
 * dropped. A minute of a busy processor's records; past it a directory whose other format stays silent stops
 * paying for it (remembering every copy doubled the CPU per line of a JSON log beside an empty text file).
 */
export const TWIN_REMEMBER_UNSEEN_MAX = 2_000;

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
  rememberUnseenMax?: number;
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

/** The window's state, shared by the steps below. */
interface WindowState {
  options: TwinWindowOptions;
  now: () => number;
  waitMs: number;
  maxHeld: number;
  pauseHeld: number;
  rememberUnseenMax: number;
  /** Held entries in arrival order; `head` indexes the first still held. */
  queue: Held[];
  head: number;
  /** Held copies still waiting for a twin, by timestamp (copies pair one to one: a record may be there twice). */
  waiting: Map<string, Held[]>;
  released: ReleasedCopies;
  lessons: LoggerLessons;
  seenFormats: Set<LogFormat>;
  /** Copies remembered while the other format was not seen yet (see TWIN_REMEMBER_UNSEEN_MAX). */
  rememberedUnseen: number;
  stats: Omit<TwinStats, "held">;
}

const heldCount = (state: WindowState) => state.queue.length - state.head;

/**
 * A copy waits where the other format has been seen, or has files not read yet (at start-up the JSON copy
 * of the first records may be read before the text file), unless its logger writes one copy only.
 */
function shouldWait(state: WindowState, entry: LogEntry, format: LogFormat): boolean {
  const other = otherFormat(format);
  if (!state.seenFormats.has(other) && state.options.formatPresent?.(other) === false) return false;
  return !state.lessons.writesOneCopy(entry);
}

/** Whether a file of this format should stop reading: the window is full of its unpaired copies. */
function mustPause(state: WindowState, format: LogFormat): boolean {
  if (heldCount(state) <= state.pauseHeld) return false;
  const first = state.queue[state.head];
  return first !== undefined && !first.paired && first.format === format;
}

/** `unpaired`: let through without its twin; `waitedOut`: because its wait ended, not because of the bound. */
function emitHead(state: WindowState, item: Held, unpaired: boolean, at: number, waitedOut = unpaired): void {
  state.head++;
  if (unpaired) {
    listRemove(state.waiting, item.entry.timestamp, item);
    state.released.remember(item.entry, item.format, at);
    // It waited until the other format had nothing left to read (files not opened yet count by their
    // size), so its twin is not there: a lesson about its logger, whether or not that format was seen.
    if (waitedOut) state.lessons.note(item.entry, false);
  }
  state.options.emit(item.entry);
}

/** Releases what is ready from the head, in arrival order; returns how many entries were let through. */
function releaseReady(state: WindowState): number {
  let count = 0;
  const at = state.now();
  while (state.head < state.queue.length) {
    const item = state.queue[state.head] as Held;
    if (item.paired || !item.waits) {
      emitHead(state, item, false, at);
    } else if (heldCount(state) > state.maxHeld) {
      state.stats.releasedAtLimit++;
      emitHead(state, item, true, at, false);
    } else if (item.deadline <= at && !state.options.formatBusy(otherFormat(item.format))) {
      state.stats.twinNeverCame++;
      emitHead(state, item, true, at);
    } else {
      break;
    }
    count++;
  }
  if (state.head === state.queue.length) {
    state.queue = [];
    state.head = 0;
  } else if (state.head > 1024 && state.head * 2 > state.queue.length) {
    state.queue = state.queue.slice(state.head);
    state.head = 0;
  }
  if (count > 0) state.released.forgetOld(at);
  return count;
}

/** Pairs the entry with a held copy, or drops it as the late twin of a released one; false when neither. */
function pairOrDrop(state: WindowState, entry: LogEntry, source: TwinSource): boolean {
  const format = source.format;
  const twin = state.waiting
    .get(entry.timestamp)
    ?.find((held) => held.format !== format && sameRecord(held.entry, entry));
  if (twin !== undefined) {
    listRemove(state.waiting, entry.timestamp, twin);
    twin.entry = format === "json" ? mergeTwins(entry, twin.entry) : mergeTwins(twin.entry, entry);
    twin.sources.push(source);
    twin.paired = true;
    state.stats.pairsMerged++;
    state.lessons.note(entry, true);
    releaseReady(state);
    return true;
  }
  if (!state.released.takeTwin(entry, format)) return false;
  state.stats.lateTwinsDropped++;
  state.lessons.note(entry, true);
  return true;
}

/**
 * Remembers a copy let through at once while a twin of format `other` may still come, so that twin finds it:
 * once that format was seen; before, while files of it are there (a logger taken as writing one copy before
 * the first copy of the other format was read), for the first TWIN_REMEMBER_UNSEEN_MAX copies.
 */
function rememberForLateTwin(state: WindowState, entry: LogEntry, format: LogFormat, other: LogFormat): void {
  if (!state.seenFormats.has(other)) {
    if (state.options.formatPresent?.(other) === false) return;
    if (state.rememberedUnseen >= state.rememberUnseenMax) return;
    state.rememberedUnseen++;
  }
  state.released.remember(entry, format, state.now());
}

function offerEntry(state: WindowState, entry: LogEntry, source: TwinSource): void {
  const { options } = state;
  const format = source.format;
  state.seenFormats.add(format);
  const other = otherFormat(format);
  // The common case of a directory with one format: nothing held, nothing of the other format seen or
  // followed, so nothing waits and nothing remembered can be this entry's twin (those are of its format).
  if (
    state.head === state.queue.length &&
    !state.seenFormats.has(other) &&
    options.formatPresent?.(other) === false
  ) {
    options.emit(entry);
    return;
  }
  const canPair = pairable(entry);
  if (canPair && pairOrDrop(state, entry, source)) return;
  const waits = canPair && shouldWait(state, entry, format);
  if (!waits) {
    if (canPair) rememberForLateTwin(state, entry, format, other);
    if (state.head === state.queue.length) {
      options.emit(entry); // nothing held before it: no order to keep
      return;
    }
  }
  const item: Held = {
    entry,
    waits,
    format,
    sources: [source],
    deadline: state.now() + state.waitMs,
    paired: false,
  };
  if (waits) {
    if (state.waiting.size === 0) options.expecting?.(other);
    listPush(state.waiting, entry.timestamp, item);
  }
  state.queue.push(item);
  releaseReady(state);
}

function heldPositionsOf(state: WindowState): Map<string, number> {
  const positions = new Map<string, number>();
  for (let i = state.head; i < state.queue.length; i++) {
    for (const source of (state.queue[i] as Held).sources) {
      const known = positions.get(source.file);
      if (known === undefined || source.position < known) positions.set(source.file, source.position);
    }
  }
  return positions;
}

export function createTwinWindow(options: TwinWindowOptions): TwinWindow {
  const state: WindowState = {
    options,
    now: options.now ?? Date.now,
    waitMs: options.waitMs ?? TWIN_WAIT_MS,
    maxHeld: options.maxHeld ?? TWIN_MAX_HELD,
    pauseHeld: options.pauseHeld ?? TWIN_PAUSE_HELD,
    rememberUnseenMax: options.rememberUnseenMax ?? TWIN_REMEMBER_UNSEEN_MAX,
    queue: [],
    head: 0,
    waiting: new Map(),
    released: createReleasedCopies(
      options.rememberMax ?? TWIN_REMEMBER_MAX,
      options.rememberMs ?? TWIN_REMEMBER_MS,
    ),
    lessons: createLoggerLessons(),
    seenFormats: new Set(),
    rememberedUnseen: 0,
    stats: { pairsMerged: 0, twinNeverCame: 0, lateTwinsDropped: 0, releasedAtLimit: 0 },
  };
  return {
    offer: (entry, source) => offerEntry(state, entry, source),
    release: () => releaseReady(state),
    held: () => heldCount(state),
    mustPause: (format) => mustPause(state, format),
    heldPositions: () => heldPositionsOf(state),
    stats: () => ({ ...state.stats, held: heldCount(state) }),
  };
}
