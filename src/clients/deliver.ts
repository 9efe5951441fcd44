/**
 * One webhook to the target, tried again on what may pass (a connection error, a timeout, a 5xx) with
 * bounded exponential backoff, and never on what will not (a 2xx–4xx answer is the app's verdict).
 */
import { pause } from "./flags.ts";
import type { TargetRequest } from "./target-request.ts";

/** First pause between tries; doubled each time. */
export const RETRY_BASE_MS = 250;
/** Longest pause between tries, so a target that comes back is reached within this long. */
export const RETRY_CAP_MS = 10_000;

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
}

/** Pause before try `attempt + 1` (attempt counts from 1); `random` in [0, 1) spreads retries out. */
export function backoffMs(attempt: number, random: number): number {
  const exponential = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
  return Math.round(exponential * (0.8 + 0.4 * random));
}

export const isRetryable = (status: number | null) => status === null || status >= 500;

export interface DeliverOptions {
  maxAttempts: number;
  timeoutMs: number;
  /** Aborts waiting and the request under way when the forwarder stops. */
  stop: AbortSignal;
  onRetry?: (attempt: number, reason: string, waitMs: number) => void;
}

export async function deliver(request: TargetRequest, options: DeliverOptions): Promise<DeliveryOutcome> {
  let outcome: DeliveryOutcome = { status: null, error: null, attempts: 0, durationMs: 0, answered: false };
  for (let attempt = 1; attempt <= options.maxAttempts && !options.stop.aborted; attempt++) {
    const started = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        // Bun sends a Uint8Array as is, with its exact Content-Length.
        body: request.body as BodyInit | null,
        redirect: "manual",
        signal: AbortSignal.any([options.stop, AbortSignal.timeout(options.timeoutMs)]),
      });
      status = response.status;
      // The answer's body is the app's business; reading it frees the connection for reuse.
      await response.arrayBuffer();
      if (status >= 500) error = `HTTP ${status}`;
    } catch (caught) {
      const name = (caught as Error).name;
      error =
        name === "TimeoutError" ? `no answer within ${options.timeoutMs} ms` : (caught as Error).message;
    }
    const durationMs = Math.round(performance.now() - started);
    outcome = { status, error, attempts: attempt, durationMs, answered: !isRetryable(status) };
    if (outcome.answered || attempt === options.maxAttempts || options.stop.aborted) break;
    const wait = backoffMs(attempt, Math.random());
    options.onRetry?.(attempt, error ?? "", wait);
    await pause(wait, options.stop);
  }
  return outcome;
}
