/**
 * Relay cursors, one codec per store. Inside the relay a delivery's place in store order is a *position*, a
 * safe integer (later deliveries have greater positions); a cursor is its printable, resumable form.
 *
 * - SQLite: `<epoch>-<delivery id in hex>`, the log journal's shape. The id is an AUTOINCREMENT id, never
 *   reused; the epoch is random per database, so a cursor from another server or a recreated database is
 *   recognised as unknown instead of pointing at unrelated deliveries.
 * - Redis: the stream entry id itself (`<ms>-<seq>`), so any instance resumes a cursor another gave out. The
 *   writer keeps `seq` under STREAM_SEQ_LIMIT, which makes `ms * STREAM_SEQ_LIMIT + seq` an exact position.
 *
 * Pure.
 */

import { EPOCH_CURSOR, formatCursor, type ParsedCursor, parseCursor } from "../stream/cursor.ts";

export type { ParsedCursor } from "../stream/cursor.ts";

export interface CursorCodec {
  /** The position of a delivery id as the store reports it. */
  positionOf(id: string): number;
  format(position: number): string;
  parse(cursor: string): ParsedCursor;
}

const STREAM_CURSOR = /^\d{1,15}-\d{1,4}$/;

/** Shape of any cursor, whatever its store: checked before a subscribe is accepted. */
export function looksLikeCursor(value: string): boolean {
  return EPOCH_CURSOR.test(value) || STREAM_CURSOR.test(value);
}

export function epochCursors(epoch: string): CursorCodec {
  return {
    positionOf: (id) => Number(id),
    format: (position) => formatCursor(epoch, position),
    parse: (cursor) => parseCursor(epoch, cursor, (other) => STREAM_CURSOR.test(other)),
  };
}

/**
 * Sequence numbers per millisecond the Redis writer uses at most (it moves to the next millisecond instead).
 * 1024 keeps positions safe integers until the year 2248.
 */
export const STREAM_SEQ_LIMIT = 1024;

export function streamPosition(ms: number, seq: number): number {
  return ms * STREAM_SEQ_LIMIT + seq;
}

export const streamCursors: CursorCodec = {
  positionOf(id) {
    const dash = id.indexOf("-");
    return streamPosition(Number(id.slice(0, dash)), Number(id.slice(dash + 1)));
  },
  format: (position) => `${Math.floor(position / STREAM_SEQ_LIMIT)}-${position % STREAM_SEQ_LIMIT}`,
  parse(cursor) {
    if (EPOCH_CURSOR.test(cursor) && !STREAM_CURSOR.test(cursor)) return { kind: "foreign" };
    if (!STREAM_CURSOR.test(cursor)) return { kind: "malformed" };
    const dash = cursor.indexOf("-");
    const ms = Number(cursor.slice(0, dash));
    const seq = Number(cursor.slice(dash + 1));
    // A sequence this writer never assigns: a stream written by something else.
    if (seq >= STREAM_SEQ_LIMIT) return { kind: "foreign" };
    const position = streamPosition(ms, seq);
    return Number.isSafeInteger(position) ? { kind: "valid", position } : { kind: "malformed" };
  },
};
