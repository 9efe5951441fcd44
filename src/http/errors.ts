/**
 * The one JSON error shape of every HTTP answer: `{"error": "<what went wrong>", "field"?: "<which input>"}`.
 * `error` stays a plain string because the original log stream's clients read `{"error": "..."}`.
 */
export interface ErrorBody {
  error: string;
  field?: string;
  [detail: string]: unknown;
}

export function errorBody(error: string, details: Omit<ErrorBody, "error"> = {}): ErrorBody {
  return { error, ...details };
}
