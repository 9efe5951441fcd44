/**
 * One webhook to the target, tried again on what may pass (see http-attempt.ts) with bounded exponential
 * backoff, and never on what will not.
 */
import { backoffMs, isRetryable, sendOnce } from "../relay/http-attempt.ts";
import type { TargetRequest } from "../relay/target-request.ts";
import { pause } from "./flags.ts";

/**
 * Bytes of the target's answer kept for response passthrough: the sender's configured-response limit
 * (MAX_RESPONSE_BODY_CHARS) applies to it on the server too.
 */
export const MAX_ANSWER_BYTES = 64 * 1024;

export interface DeliveryOutcome {
  /** The target's last answer; null when it never answered. */
  status: number | null;
  /** Why the last try failed, when it did (connection error, timeout, 5xx). */
  error: string | null;
  attempts: number;
  /** Of the last try. */
  durationMs: number;
  /** True when it ended with a 2xx–4xx answer; false when every try failed or the forwarder stopped. */
  answered: boolean;
  /** The last answer's headers and first MAX_ANSWER_BYTES of body. */
  headers: Headers;
  body: Uint8Array;
}

export interface DeliverOptions {
  maxAttempts: number;
  timeoutMs: number;
  /** Aborts waiting and the request under way when the forwarder stops. */
  stop: AbortSignal;
  onRetry?: (attempt: number, reason: string, waitMs: number) => void;
}

export async function deliver(request: TargetRequest, options: DeliverOptions): Promise<DeliveryOutcome> {
  let outcome: DeliveryOutcome = {
    status: null,
    error: null,
    attempts: 0,
    durationMs: 0,
    answered: false,
    headers: new Headers(),
    body: new Uint8Array(),
  };
  for (let attempt = 1; attempt <= options.maxAttempts && !options.stop.aborted; attempt++) {
    const result = await sendOnce(request, {
      timeoutMs: options.timeoutMs,
      stop: options.stop,
      maxBodyBytes: MAX_ANSWER_BYTES,
    });
    outcome = { ...result, attempts: attempt, answered: !isRetryable(result.status) };
    if (outcome.answered || attempt === options.maxAttempts || options.stop.aborted) break;
    const wait = backoffMs(attempt, Math.random());
    options.onRetry?.(attempt, result.error ?? "", wait);
    await pause(wait, options.stop);
  }
  return outcome;
}
