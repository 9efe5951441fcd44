/**
 * Relay cursors: `<epoch>-<delivery id in hex>`, the log journal's shape. The id is the store order (an
 * AUTOINCREMENT id, never reused); the epoch is random per database, so a cursor from another server or a
 * recreated database is recognised as unknown instead of pointing at unrelated deliveries. Pure.
 */

/** Shape of any cursor, whatever its database: 8 hex digits, a dash, up to 13 hex digits (a safe integer). */
export const CURSOR_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{1,13}$/;

export type ParsedCursor = { kind: "valid"; id: number } | { kind: "foreign" } | { kind: "malformed" };

export function formatCursor(epoch: string, id: number): string {
  return `${epoch}-${id.toString(16)}`;
}

export function parseCursor(epoch: string, cursor: string): ParsedCursor {
  if (!CURSOR_PATTERN.test(cursor)) return { kind: "malformed" };
  const dash = cursor.indexOf("-");
  if (cursor.slice(0, dash) !== epoch) return { kind: "foreign" };
  const id = Number.parseInt(cursor.slice(dash + 1), 16);
  return Number.isSafeInteger(id) ? { kind: "valid", id } : { kind: "malformed" };
}
