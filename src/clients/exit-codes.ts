/** Exit codes of `hookstream forward` and `hookstream tail`, one table so scripts can rely on them. */
export const ExitCode = {
  /** Stopped by SIGINT/SIGTERM. */
  OK: 0,
  /** A fault that retrying cannot fix: the cursor file cannot be written, an unexpected error. */
  FAILURE: 1,
  /** Bad flags or environment; nothing was started. */
  USAGE: 2,
  /** The server refused the credentials (unknown, wrong or revoked): final, not retried. */
  UNAUTHORIZED: 3,
  /** The server refused what was asked (an unknown bucket, a bad filter): final, not retried. */
  REFUSED: 4,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Thrown by argument parsing; the message names the flag. */
export class UsageError extends Error {}
