/**
 * Adds to a delivery on its way to sockets what its messages carry besides the stored delivery: the bucket's
 * outputs (one message each) and, while its sender may still be waiting, the input's passthrough timeout.
 * Applied where messages are published live and to the pages a catching-up socket reads, so both say the same.
 */
import type { OutputRef } from "../message.ts";
import type { DeliveryStore, StoredDelivery } from "../store.ts";
import { type OutputDirectory, outputRef } from "./directory.ts";

export function annotateDelivery<T extends Pick<StoredDelivery, "bucketId" | "inputId" | "receivedAt">>(
  directory: OutputDirectory,
  delivery: T,
  now: number,
): T & { outputs: OutputRef[]; passthroughMs?: number } {
  const outputs = directory.outputsOf(delivery.bucketId).map(outputRef);
  const timeoutMs = directory.passthroughOf(delivery.inputId);
  // A sender waits at most the timeout: a delivery read later from the store asks nobody for an answer.
  const waiting = timeoutMs !== null && now - delivery.receivedAt < timeoutMs;
  return { ...delivery, outputs, ...(waiting ? { passthroughMs: timeoutMs } : {}) };
}

/** The store as a catching-up socket reads it: each page's deliveries annotated. */
export function annotatingStore(store: DeliveryStore, directory: OutputDirectory): DeliveryStore {
  // Every other member is the store's own (the stores are plain objects of closures), so a member added to
  // the seam needs no forwarding here.
  return {
    ...store,
    async readDeliveries(read) {
      const page = await store.readDeliveries(read);
      const now = Date.now();
      return {
        ...page,
        deliveries: page.deliveries.map((delivery) => annotateDelivery(directory, delivery, now)),
      };
    },
  };
}
