/**
 * `hookstream forward`: the agent that replays a relay's webhooks to a local target. Reads the socket into a
 * bounded queue, sends at most `concurrency` requests at once (one per bucket with `ordered`), saves the
 * finished prefix's cursor after every delivery, and reconnects with that cursor whenever the connection
 * ends, so neither a dropped connection nor a restart loses or repeats a delivery the target answered.
 */

import { headerValue, targetRequest } from "../relay/target-request.ts";
import { openCursorFile } from "./cursor-file.ts";
import { type DeliveryOutcome, deliver } from "./deliver.ts";
import { createDeliveryQueue } from "./delivery-queue.ts";
import { ExitCode, type ExitCodeValue } from "./exit-codes.ts";
import { aborted, pause } from "./flags.ts";
import type { ForwardOptions } from "./forward-args.ts";
import { connectRelay, type RelayClose, type RelayConnection } from "./relay-connection.ts";
import { answerFrame, type WebhookFrame } from "./relay-frames.ts";

/** Body bytes held between the socket and the target: a burst of 25 MiB webhooks does not fill memory. */
export const MAX_HELD_BYTES = 256 * 1024 * 1024;
/** First pause before reconnecting after a failed connection; doubled up to the cap. */
const RECONNECT_BASE_MS = 500;
const RECONNECT_CAP_MS = 30_000;

export interface ForwardIo {
  out(line: string): void;
  err(line: string): void;
}

export async function runForward(
  options: ForwardOptions,
  io: ForwardIo,
  stop: AbortSignal,
): Promise<ExitCodeValue> {
  const cursorFile = openCursorFile(options.cursorFile);
  let cursor: string | null;
  try {
    cursor = cursorFile.load();
  } catch (error) {
    io.err(`error: cannot read the cursor file: ${(error as Error).message}`);
    return ExitCode.FAILURE;
  }
  if (cursor === null) {
    // A first run starts at the server's newest delivery, held on disk at once: a restart (or a reconnect
    // while nothing was finished yet) then resumes there instead of going live and missing what came between.
    cursor = await newestCursor(options.server);
    if (cursor === null)
      io.err("the server's /health names no relay position: starting live from the subscribe");
    else
      try {
        cursorFile.save(cursor);
      } catch (error) {
        io.err(`error: cannot save the cursor to ${cursorFile.path}: ${(error as Error).message}`);
        return ExitCode.FAILURE;
      }
  }
  const queue = createDeliveryQueue({
    concurrency: options.concurrency,
    ordered: options.ordered,
    maxEntries: options.maxHeld,
    maxBytes: MAX_HELD_BYTES,
  });
  let failure: string | null = null;
  const fail = new AbortController();
  const halted = AbortSignal.any([stop, fail.signal]);
  let roomWaiter: (() => void) | null = null;

  const report = (webhook: WebhookFrame, path: string, outcome: DeliveryOutcome) => {
    const time = new Date().toISOString();
    if (options.json) {
      io.out(
        JSON.stringify({
          time,
          id: webhook.id,
          bucket: webhook.bucketName,
          method: webhook.method,
          path,
          status: outcome.status,
          duration_ms: outcome.durationMs,
          attempts: outcome.attempts,
          event: headerValue(webhook.headers, "X-GitHub-Event"),
          ...(webhook.replayOf === null ? {} : { replay_of: webhook.replayOf }),
          ...(outcome.answered ? {} : { gave_up: true, error: outcome.error }),
        }),
      );
      return;
    }
    const replay = webhook.replayOf === null ? "" : ` (replay of ${webhook.replayOf})`;
    if (outcome.answered)
      io.out(`${time} ${webhook.method} ${path} ${outcome.status} ${outcome.durationMs}ms${replay}`);
    else
      io.out(
        `${time} ${webhook.method} ${path} gave up after ${outcome.attempts} attempts: ${outcome.error} (delivery ${webhook.id})${replay}`,
      );
  };

  const finished = (id: string) => {
    const next = queue.finish(id);
    if (next !== null) {
      try {
        cursorFile.save(next);
        cursor = next;
      } catch (error) {
        failure = `cannot save the cursor to ${cursorFile.path}: ${(error as Error).message}`;
        fail.abort();
      }
    }
    if (roomWaiter !== null && queue.hasRoom()) roomWaiter();
    pump();
  };

  /** The connection frames go out on; answers for waiting senders use whichever is open. */
  let current: RelayConnection | null = null;

  /** Where this webhook goes: --target, else the destination of the output it names. */
  const destinationOf = (webhook: WebhookFrame): URL | string => {
    if (options.target !== null) return options.target;
    try {
      const url = new URL(webhook.outputDestination);
      if (url.protocol === "http:" || url.protocol === "https:") return url;
    } catch {
      // Reported below like any other undeliverable webhook.
    }
    return `output ${webhook.outputName} has no http(s) destination: "${webhook.outputDestination}"`;
  };

  const pump = () => {
    if (halted.aborted) return;
    for (const webhook of queue.take()) {
      const destination = destinationOf(webhook);
      if (typeof destination === "string") {
        io.err(`skipping delivery ${webhook.id}: ${destination}`);
        finished(webhook.id);
        continue;
      }
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
          current?.send(answerFrame(webhook.id, outcome.status, outcome.headers, outcome.body));
        report(webhook, request.path, outcome);
        finished(webhook.id);
      });
    }
  };

  let failedConnections = 0;
  while (!halted.aborted) {
    let paused = false;
    let lastId: string | null = null;
    const connection = connectRelay(
      { server: options.server, key: options.key, secret: options.secret, buckets: options.buckets, cursor },
      {
        onSubscribed(message) {
          failedConnections = 0;
          io.err(
            `${message}; forwarding to ${options.target?.href ?? `the destination of output ${options.output}`}`,
          );
        },
        onWebhook(webhook) {
          if (paused) return;
          // A bucket with outputs sends one message per output, one after another: serve the chosen
          // output's, or (without --output) each delivery once.
          if (options.output !== null ? webhook.outputName !== options.output : webhook.id === lastId) return;
          lastId = webhook.id;
          const added = queue.add(webhook);
          if (added === "full") {
            // Read no further: the server keeps everything, and we resume from the saved cursor.
            paused = true;
            connection.close("queue full");
            return;
          }
          if (added === "known") return;
          const event = headerValue(webhook.headers, "X-GitHub-Event");
          if (options.events !== null && !options.events.has((event ?? "").toLowerCase()))
            finished(webhook.id);
          else pump();
        },
        onNotice: (text) => io.err(text),
      },
    );
    current = connection;
    const onHalt = () => connection.close("stopping");
    halted.addEventListener("abort", onHalt, { once: true });
    const closed: RelayClose = await connection.closed;
    halted.removeEventListener("abort", onHalt);
    if (halted.aborted) break;
    if (closed.final !== null) return closed.final;
    if (paused) {
      if (!queue.hasRoom()) {
        const room = new AbortController();
        roomWaiter = () => room.abort();
        await aborted(AbortSignal.any([room.signal, halted]));
        roomWaiter = null;
      }
      continue;
    }
    failedConnections++;
    const wait = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** (failedConnections - 1));
    io.err(
      `connection closed (${closed.code}${closed.reason ? ` ${closed.reason}` : ""}); reconnecting in ${wait} ms`,
    );
    await pause(wait, halted);
  }
  if (failure !== null) {
    io.err(`error: ${failure}`);
    return ExitCode.FAILURE;
  }
  return ExitCode.OK;
}

/** The relay's newest cursor from `/health`; null when the server does not say (then the start is live). */
async function newestCursor(server: string): Promise<string | null> {
  try {
    const response = await fetch(new URL("health", server.endsWith("/") ? server : `${server}/`), {
      signal: AbortSignal.timeout(5000),
    });
    const health = (await response.json()) as { relay?: { newest_cursor?: unknown } };
    const cursor = health.relay?.newest_cursor;
    return typeof cursor === "string" && cursor !== "" ? cursor : null;
  } catch {
    return null;
  }
}
