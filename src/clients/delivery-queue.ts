/**
 * The forwarder's deliveries between the socket and the target, in store order, and the one cursor that is
 * safe to keep on disk: that of the last delivery before which every delivery is finished (delivered, given
 * up on, or filtered out). Later ones may finish first (concurrency), so the saved cursor only ever moves
 * over a finished prefix; after a restart everything past it is sent again, nothing before it.
 *
 * After a reconnect the server sends again what follows the saved cursor: deliveries still held here are
 * recognised by id and skipped, so a dropped connection repeats nothing. Pure.
 */
import type { WebhookFrame } from "./relay-frames.ts";

type State = "queued" | "running" | "done";

interface Entry {
  webhook: WebhookFrame;
  state: State;
}

export interface QueueLimits {
  /** Requests to the target at once. */
  concurrency: number;
  /** One request at a time per bucket, in store order. */
  ordered: boolean;
  /** Deliveries held (queued, running, or finished after an unfinished one). */
  maxEntries: number;
  /** Body bytes held; at least one delivery is always accepted. */
  maxBytes: number;
}

export type AddResult = "added" | "known" | "full";

export interface DeliveryQueue {
  /** `known`: already held (sent again after a reconnect). `full`: not taken; read it again later. */
  add(webhook: WebhookFrame): AddResult;
  /** Deliveries to start now (marked running), respecting the concurrency and per-bucket order. */
  take(): WebhookFrame[];
  /**
   * Marks it finished (also one never started: filtered out); returns the cursor to save when the finished
   * prefix grew, else null.
   */
  finish(id: string): string | null;
  /** Whether fewer than half the limits are held: the point at which reading resumes after `full`. */
  hasRoom(): boolean;
  size(): number;
  running(): number;
}

export function createDeliveryQueue(limits: QueueLimits): DeliveryQueue {
  const entries: Entry[] = [];
  const byId = new Map<string, Entry>();
  let bytes = 0;
  let running = 0;

  const commit = (): string | null => {
    let cursor: string | null = null;
    while (entries[0]?.state === "done") {
      const head = entries.shift() as Entry;
      byId.delete(head.webhook.id);
      bytes -= head.webhook.body.byteLength;
      if (head.webhook.cursor !== null) cursor = head.webhook.cursor;
    }
    return cursor;
  };

  return {
    add(webhook) {
      if (byId.has(webhook.id)) return "known";
      if (entries.length > 0 && (entries.length >= limits.maxEntries || bytes >= limits.maxBytes))
        return "full";
      const entry: Entry = { webhook, state: "queued" };
      entries.push(entry);
      byId.set(webhook.id, entry);
      bytes += webhook.body.byteLength;
      return "added";
    },
    take() {
      const started: WebhookFrame[] = [];
      const busyBuckets = new Set<string>();
      for (const entry of entries) {
        if (running >= limits.concurrency) break;
        const bucket = entry.webhook.bucketId;
        if (entry.state === "running") busyBuckets.add(bucket);
        if (entry.state !== "queued") continue;
        if (limits.ordered && busyBuckets.has(bucket)) continue;
        busyBuckets.add(bucket);
        entry.state = "running";
        running++;
        started.push(entry.webhook);
      }
      return started;
    },
    finish(id) {
      const entry = byId.get(id);
      if (entry === undefined || entry.state === "done") return null;
      if (entry.state === "running") running--;
      entry.state = "done";
      return commit();
    },
    hasRoom: () => entries.length < limits.maxEntries / 2 && bytes < limits.maxBytes / 2,
    size: () => entries.length,
    running: () => running,
  };
}
