/**
 * The one JSON error shape of every HTTP answer: `{"error": "<what went wrong>", "field"?: "<which input>"}`.
 * `error` stays a plain string because the original log stream's clients read `{"error": "..."}`.
 */
export interface ErrorBody {
  error: string;
  field?: string;
  [detail: string]: unknown;
}

/**
 * A store cannot be reached right now (a shared Redis restarting): nothing was read or written, and the
 * same call may succeed later. Requests get 503 with Retry-After; sockets are asked to come back (1013).
 * Below both sides, so the relay's stores and the Redis client share it without importing each other.
 */
export class StoreUnavailableError extends Error {}

export function errorBody(error: string, details: Omit<ErrorBody, "error"> = {}): ErrorBody {
  return { error, ...details };
}
