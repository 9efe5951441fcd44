/**
 * Response passthrough: senders of webhooks to an input that asks for it wait, after their delivery is
 * stored, for the forwarding agent's answer (a `response` frame, see answer-frame.ts), up to the input's
 * timeout; then they get the input's configured response instead. Nothing waits before the delivery is
 * durable, so the outcome of the wait never decides whether a webhook is kept.
 *
 * In cluster mode the agent's socket may be on another instance than the sender's request: answers that
 * find no local waiter are published on a Redis channel every instance listens to (`bus`), and the instance
 * holding the sender takes it. A published answer that is lost (Redis restarting) leaves that sender with
 * the configured response, as a late answer would.
 */
import { z } from "zod";
import type { Answer } from "./answer-frame.ts";

/**
 * Senders waiting at once, per process. Each holds only its open request (its body is stored and released
 * before it waits); past it a sender gets the configured response at once.
 */
export const MAX_WAITING_SENDERS = 10_000;

/** How answers travel between instances (cluster mode). */
export interface AnswerBus {
  publish(payload: string): void;
}

export interface Passthrough {
  /** Resolves with the agent's answer, or null after `timeoutMs` (or at once when too many wait). */
  wait(deliveryId: string, bucketId: string, timeoutMs: number): Promise<Answer | null>;
  /**
   * An answer from a socket whose token reads `bucketIds` (null: every bucket). Taken when this process
   * holds its sender and the token may read the delivery's bucket; otherwise published on the bus.
   */
  answer(bucketIds: readonly string[] | null, deliveryId: string, answer: Answer): void;
  /** A payload another instance published. */
  received(payload: string): void;
  waiting(): number;
  /** Lets every waiting sender go with its configured response, and later ones at once (shutdown). */
  close(): void;
}

const published = z.object({
  id: z.string(),
  buckets: z.array(z.string()).nullable(),
  status: z.number().int(),
  headers: z.record(z.string(), z.array(z.string())),
  body: z.string(),
});

export function createPassthrough(options: {
  bus?: AnswerBus;
  log: (level: "info" | "warn" | "error", message: string) => void;
}): Passthrough {
  const waiters = new Map<string, { bucketId: string; settle(answer: Answer | null): void }>();
  let closed = false;

  /** True when a local waiter was found (whether or not the token could answer it). */
  const take = (bucketIds: readonly string[] | null, id: string, answer: Answer): boolean => {
    const waiter = waiters.get(id);
    if (waiter === undefined) return false;
    if (bucketIds === null || bucketIds.includes(waiter.bucketId)) waiter.settle(answer);
    return true;
  };

  return {
    wait(deliveryId, bucketId, timeoutMs) {
      if (closed || waiters.size >= MAX_WAITING_SENDERS || waiters.has(deliveryId))
        return Promise.resolve(null);
      return new Promise((resolve) => {
        const timer = setTimeout(() => settle(null), timeoutMs);
        const settle = (answer: Answer | null) => {
          clearTimeout(timer);
          waiters.delete(deliveryId);
          resolve(answer);
        };
        waiters.set(deliveryId, { bucketId, settle });
      });
    },
    answer(bucketIds, deliveryId, answer) {
      if (take(bucketIds, deliveryId, answer)) return;
      options.bus?.publish(
        JSON.stringify({
          id: deliveryId,
          buckets: bucketIds,
          status: answer.status,
          headers: answer.headers,
          body: Buffer.from(answer.body).toString("base64"),
        }),
      );
    },
    received(payload) {
      let json: unknown;
      try {
        json = JSON.parse(payload);
      } catch (error) {
        options.log("warn", `unreadable passthrough answer from another instance: ${String(error)}`);
        return;
      }
      const parsed = published.safeParse(json);
      if (!parsed.success) {
        options.log("warn", `malformed passthrough answer from another instance: ${parsed.error.message}`);
        return;
      }
      const { id, buckets, status, headers, body } = parsed.data;
      take(buckets, id, { status, headers, body: new Uint8Array(Buffer.from(body, "base64")) });
    },
    waiting: () => waiters.size,
    close() {
      closed = true;
      for (const waiter of [...waiters.values()]) waiter.settle(null);
    },
  };
}
