/**
 * Positions and cursors, for every positioned stream hookstream serves (the log journal, the relay's delivery
 * store). A position is a safe integer, greater for later items; an epoch names one history of positions
 * (random per journal or database, shared by a cluster), so a cursor from another history is recognised as
 * foreign instead of pointing at unrelated items. A cursor is `<epoch>-<position in hex>`. Pure.
 */

export type ParsedCursor = { kind: "valid"; position: number } | { kind: "foreign" } | { kind: "malformed" };

/** What a cursor of this history looks like: 8 hex digits of epoch, the position in up to 13 hex digits. */
export const EPOCH_CURSOR = /^[0-9a-f]{8}-[0-9a-f]{1,13}$/;

/** An epoch: 8 hex digits. */
export const EPOCH = /^[0-9a-f]{8}$/;

export function formatCursor(epoch: string, position: number): string {
  return `${epoch}-${position.toString(16)}`;
}

/**
 * `foreign`: well formed but of another history (another epoch, or a shape `isForeign` recognises as another
 * store's); `malformed`: not a cursor at all.
 */
export function parseCursor(
  epoch: string,
  cursor: string,
  isForeign: (cursor: string) => boolean = () => false,
): ParsedCursor {
  if (!EPOCH_CURSOR.test(cursor)) return isForeign(cursor) ? { kind: "foreign" } : { kind: "malformed" };
  const dash = cursor.indexOf("-");
  if (cursor.slice(0, dash) !== epoch) return { kind: "foreign" };
  const position = Number.parseInt(cursor.slice(dash + 1), 16);
  return Number.isSafeInteger(position) ? { kind: "valid", position } : { kind: "malformed" };
}
