/**
 * Re-sending a stored delivery: it is stored again as a copy marked with the original's id (`replayOf`), so
 * it reaches the bucket's subscribers exactly as a new webhook does — live, or on resume from a cursor, once
 * each — and receivers that read the socket's `replay` field can tell it from a delivery GitHub sent.
 * Receivers that do not know the field see an ordinary webhook with the original's headers and bytes.
 *
 * The copy has no `X-GitHub-Delivery` de-duplication key (the original holds it), a new id and cursor, and
 * the time of the replay. A replay of a replay names the first original.
 */
import type { Relay } from "./relay.ts";
import { StorageFullError } from "./store.ts";
import { WriterBusyError } from "./writer.ts";

export interface Replayed {
  id: string;
  cursor: string;
  replay_of: string;
  bucket: string;
}

export type ReplayOutcome =
  | { ok: true; value: Replayed }
  | { ok: false; status: 404 | 503; field?: string; message: string };

export async function replayDelivery(
  relay: Relay,
  bucketRef: string,
  deliveryId: string,
  sourceAddress: string,
): Promise<ReplayOutcome> {
  const bucket = await relay.store.findBucket(bucketRef);
  if (bucket === null) return { ok: false, status: 404, field: "bucket", message: "Unknown bucket" };
  const { cursors } = await relay.store.deliveryPosition();
  const position = /^\d+(-\d+)?$/.test(deliveryId) ? cursors.positionOf(deliveryId) : Number.NaN;
  const unknown = {
    ok: false,
    status: 404,
    field: "id",
    message: "No such delivery in this bucket",
  } as const;
  if (!Number.isSafeInteger(position) || position <= 0) return unknown;
  const page = await relay.store.readDeliveries({
    bucketIds: [bucket.id],
    afterPosition: position - 1,
    throughPosition: position,
    maxRows: 1,
    maxBytes: 1,
  });
  const original = page.deliveries[0];
  if (original === undefined || original.id !== deliveryId) return unknown;
  try {
    const result = await relay.accept(
      {
        bucketId: bucket.id,
        inputId: original.inputId,
        githubDelivery: null,
        method: original.method,
        headers: original.headers,
        query: original.query,
        body: original.body,
        sourceAddress,
        receivedAt: Date.now(),
        replayOf: original.replayOf ?? original.id,
      },
      { bucketName: bucket.name, inputName: original.inputName },
    );
    // Never a duplicate: a copy carries no de-duplication key.
    const id = result.id as string;
    return {
      ok: true,
      value: {
        id,
        cursor: cursors.format(cursors.positionOf(id)),
        replay_of: original.replayOf ?? original.id,
        bucket: bucket.name,
      },
    };
  } catch (error) {
    if (error instanceof WriterBusyError || error instanceof StorageFullError)
      return { ok: false, status: 503, message: error.message };
    throw error;
  }
}
