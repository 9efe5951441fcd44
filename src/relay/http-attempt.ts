/**
 * One HTTP request of a relayed webhook to its destination, and the retry rule shared by everyone who
 * re-sends webhooks (`hookstream forward`, outputs hookstream delivers): a connection error, a timeout or a
 * 5xx may pass and is tried again with bounded exponential backoff; a 2xx–4xx answer is the app's verdict.
 */
import type { TargetRequest } from "./target-request.ts";

/** First pause between tries; doubled each time. */
export const RETRY_BASE_MS = 250;
/** Longest pause between tries, so a target that comes back is reached within this long. */
export const RETRY_CAP_MS = 10_000;

/** Pause before try `attempt + 1` (attempt counts from 1); `random` in [0, 1) spreads retries out. */
export function backoffMs(attempt: number, random: number, capMs = RETRY_CAP_MS): number {
  const exponential = Math.min(capMs, RETRY_BASE_MS * 2 ** (attempt - 1));
  return Math.round(exponential * (0.8 + 0.4 * random));
}

export const isRetryable = (status: number | null) => status === null || status >= 500;

export interface AttemptResult {
  /** The destination's answer; null when it never answered. */
  status: number | null;
  headers: Headers;
  /** The answer's first `maxBodyBytes` bytes. */
  body: Uint8Array;
  /** Why it may be worth another try (connection error, timeout, 5xx); null otherwise. */
  error: string | null;
  durationMs: number;
}

export interface AttemptOptions {
  timeoutMs: number;
  /** Aborts the request under way. */
  stop: AbortSignal;
  /** Bytes of the answer's body kept; the rest is read and dropped, which frees the connection for reuse. */
  maxBodyBytes: number;
}

export async function sendOnce(request: TargetRequest, options: AttemptOptions): Promise<AttemptResult> {
  const started = performance.now();
  let status: number | null = null;
  let headers = new Headers();
  let body: Uint8Array = new Uint8Array();
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
    headers = response.headers;
    body = await readBounded(response, options.maxBodyBytes);
    if (status >= 500) error = `HTTP ${status}`;
  } catch (caught) {
    const name = (caught as Error).name;
    error = name === "TimeoutError" ? `no answer within ${options.timeoutMs} ms` : (caught as Error).message;
  }
  return { status, headers, body, error, durationMs: Math.round(performance.now() - started) };
}

async function readBounded(response: Response, maxBytes: number): Promise<Uint8Array> {
  if (response.body === null) return new Uint8Array();
  const kept = new Uint8Array(maxBytes);
  let length = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    const room = maxBytes - length;
    if (room > 0) {
      const part = chunk.subarray(0, room);
      kept.set(part, length);
      length += part.byteLength;
    }
  }
  return kept.subarray(0, length);
}
