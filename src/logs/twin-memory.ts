/**
 * What the pairing window (twins.ts) remembers beyond the entries it holds: copies it let through without their
 * twin, so a late twin is dropped rather than streamed again; and per logger, whether it writes one copy only,
 * so its records stop waiting for a twin that never comes. Both bounded by count.
 */
import type { LogEntry } from "./entry.ts";
import type { LogFormat } from "./parse.ts";

/** Messages longer than this are keyed by their hash, so remembered keys stay small. */
const MAX_KEY_MESSAGE_CHARS = 256;
/** Unpaired releases in a row after which a logger is taken as writing one copy only (it then never waits). */
const SINGLE_COPY_AFTER = 3;
/** Logger names tracked for that; more names than this are not learned (they keep waiting). */
const MAX_TRACKED_LOGGERS = 1_024;

/** The message as remembered: itself, or its hash and length when long. */
export function fingerprintOf(message: string): string {
  return message.length > MAX_KEY_MESSAGE_CHARS
    ? `#${Bun.hash(message).toString(36)}:${message.length}`
    : message;
}

/** A map from timestamp to a short list; lookups hash a 32-character string, not a whole message. */
export function listPush<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [item]);
  else list.push(item);
}

export function listRemove<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list === undefined) return;
  const i = list.indexOf(item);
  if (i !== -1) list.splice(i, 1);
  if (list.length === 0) map.delete(key);
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

export interface ReleasedCopies {
  /** A copy was let through without its twin: a twin that still comes must find it. */
  remember(entry: LogEntry, format: LogFormat, at: number): void;
  /** Forgets copies released `rememberMs` or longer before `at`. */
  forgetOld(at: number): void;
  /** Whether a copy released unpaired is this one's twin; consumes it (it stays in the ring, unlinked). */
  takeTwin(entry: LogEntry, format: LogFormat): boolean;
}

/**
 * Copies released unpaired, oldest first in a ring of `rememberMax` (a Map iterated from its front after many
 * deletes slows down with the deleted slots it skips: measured 60 µs a line), and by timestamp for the lookup.
 */
export function createReleasedCopies(rememberMax: number, rememberMs: number): ReleasedCopies {
  const ring: Array<Released | undefined> = [];
  let ringStart = 0;
  let ringSize = 0;
  const released = new Map<string, Released[]>();

  const forgetOldest = () => {
    const oldest = ring[ringStart] as Released;
    ring[ringStart] = undefined;
    ringStart = (ringStart + 1) % rememberMax;
    ringSize--;
    listRemove(released, oldest.timestamp, oldest);
  };

  return {
    remember(entry, format, at) {
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
    },
    forgetOld(at) {
      while (ringSize > 0 && at - (ring[ringStart] as Released).at >= rememberMs) forgetOldest();
    },
    takeTwin(entry, format) {
      if (released.size === 0) return false;
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
    },
  };
}

export interface LoggerLessons {
  /** A record of this logger paired (it writes both copies), or was let through after waiting out its twin. */
  note(entry: LogEntry, paired: boolean): void;
  /** Whether this logger's copies waited out their twin too often in a row: it writes one copy only. */
  writesOneCopy(entry: LogEntry): boolean;
}

export function createLoggerLessons(): LoggerLessons {
  /** Per logger: unpaired releases in a row (a pairing resets it). */
  const unpairedRun = new Map<string, number>();
  return {
    note(entry, paired) {
      const logger = entry.logger_name ?? "";
      if (paired) {
        if (unpairedRun.size > 0) unpairedRun.delete(logger);
        return;
      }
      if (!unpairedRun.has(logger) && unpairedRun.size >= MAX_TRACKED_LOGGERS) return;
      unpairedRun.set(logger, (unpairedRun.get(logger) ?? 0) + 1);
    },
    writesOneCopy: (entry) => (unpairedRun.get(entry.logger_name ?? "") ?? 0) >= SINGLE_COPY_AFTER,
  };
}
