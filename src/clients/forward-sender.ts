/**
 * The forwarder's sending half: webhooks read from the socket go into a bounded queue, at most `concurrency`
 * requests run at once (one per bucket with `ordered`), and after each finished delivery the cursor of the
 * finished prefix is saved, before another request starts in the slot that finished.
 */
import { headerValue, targetRequest } from "../relay/target-request.ts";
import type { CursorFile } from "./cursor-file.ts";
import { deliver } from "./deliver.ts";
import { createDeliveryQueue } from "./delivery-queue.ts";
import { aborted } from "./flags.ts";
import type { ForwardOptions } from "./forward-args.ts";
import { destinationOf, reportLine } from "./forward-rules.ts";
import type { RelayConnection } from "./relay-connection.ts";
import { answerFrame, type WebhookFrame } from "./relay-frames.ts";

/** Body bytes held between the socket and the target: a burst of 25 MiB webhooks does not fill memory. */
export const MAX_HELD_BYTES = 256 * 1024 * 1024;

export interface ForwardIo {
  out(line: string): void;
  err(line: string): void;
}

export interface ForwardSender {
  /** Resumes after the finished prefix; null until something finished on a first live start. */
  readonly cursor: string | null;
  /** Why sending stopped on its own (the cursor could not be saved); null otherwise. */
  readonly failure: string | null;
  /** Takes a webhook read from the socket; "full" when the queue has no room and reading must stop. */
  receive(webhook: WebhookFrame): "taken" | "full";
  /** The connection answers for waiting senders go out on (whichever is open). */
  useConnection(connection: RelayConnection): void;
  /** Resolves once the queue has room again (or sending halts). */
  waitForRoom(): Promise<void>;
}

export interface ForwardSenderDeps {
  options: ForwardOptions;
  io: ForwardIo;
  cursorFile: CursorFile;
  cursor: string | null;
  /** Aborts on stop or on failure; requests in flight end with it. */
  halted: AbortSignal;
  /** Called once the cursor cannot be saved: sending cannot go on without losing the position. */
  fail(): void;
}

export function createForwardSender(deps: ForwardSenderDeps): ForwardSender {
  const { options, io, cursorFile, halted } = deps;
  const queue = createDeliveryQueue({
    concurrency: options.concurrency,
    ordered: options.ordered,
    maxEntries: options.maxHeld,
    maxBytes: MAX_HELD_BYTES,
  });
  let cursor = deps.cursor;
  let failure: string | null = null;
  let roomWaiter: (() => void) | null = null;
  let connection: RelayConnection | null = null;

  const finished = (id: string) => {
    const next = queue.finish(id);
    if (next !== null) {
      try {
        cursorFile.save(next);
        cursor = next;
      } catch (error) {
        failure = `cannot save the cursor to ${cursorFile.path}: ${(error as Error).message}`;
        deps.fail();
      }
    }
    if (roomWaiter !== null && queue.hasRoom()) roomWaiter();
    pump();
  };

  const send = (webhook: WebhookFrame, destination: URL) => {
    const request = targetRequest(destination, webhook);
    void deliver(request, {
      maxAttempts: options.maxAttempts,
      timeoutMs: options.timeoutMs,
      stop: halted,
      onRetry: (attempt, reason, waitMs) =>
        io.err(`retrying delivery ${webhook.id} (${reason}) in ${waitMs} ms, attempt ${attempt + 1}`),
    }).then((outcome) => {
      // Stopped mid-request: not finished, so it is sent again after a restart.
      if (halted.aborted) return;
      // The sender of this webhook waits for the app's answer; a server past the wait ignores it.
      if (webhook.passthroughMs !== null && outcome.answered && outcome.status !== null)
        connection?.send(answerFrame(webhook.id, outcome.status, outcome.headers, outcome.body));
      io.out(
        reportLine(webhook, request.path, outcome, { json: options.json, time: new Date().toISOString() }),
      );
      finished(webhook.id);
    });
  };

  const pump = () => {
    if (halted.aborted) return;
    for (const webhook of queue.take()) {
      const destination = destinationOf(webhook, options.target);
      if (typeof destination === "string") {
        io.err(`skipping delivery ${webhook.id}: ${destination}`);
        finished(webhook.id);
      } else send(webhook, destination);
    }
  };

  return {
    get cursor() {
      return cursor;
    },
    get failure() {
      return failure;
    },
    receive(webhook) {
      const added = queue.add(webhook);
      if (added === "full") return "full";
      if (added === "known") return "taken";
      const event = headerValue(webhook.headers, "X-GitHub-Event");
      if (options.events !== null && !options.events.has((event ?? "").toLowerCase())) finished(webhook.id);
      else pump();
      return "taken";
    },
    useConnection(next) {
      connection = next;
    },
    async waitForRoom() {
      if (queue.hasRoom()) return;
      const room = new AbortController();
      roomWaiter = () => room.abort();
      await aborted(AbortSignal.any([room.signal, halted]));
      roomWaiter = null;
    },
  };
}
