/**
 * What the journal does while it cannot be written (a full disk): count the failures, log once when writing
 * stops working and once when it works again, and retry on a backoff timer instead of at every batch end.
 */

/** While writes fail they are retried after this, doubling up to RETRY_MAX_MS (not at every batch end). */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;

type LogFn = (level: "info" | "warn" | "error", message: string) => void;

export interface WriteFailures {
  /** A write now would come before the backoff allows it (unless forced). */
  backingOff(force: boolean): boolean;
  /** A write failed: counted, logged the first time, retried later through `retry`. */
  failed(error: unknown): void;
  /** A write worked: if writing was failing, the recovery is logged. */
  succeeded(): void;
  /** Entries given up (past the memory bound): they become a gap for readers. */
  gaveUp(entries: number): void;
  stats(): { writing: boolean; writeFailures: number; notJournaled: number };
  /** No retry may outlive the journal. */
  close(): void;
}

export function createWriteFailures(options: {
  log: LogFn;
  retry: () => void;
  maxUnwrittenBytes: number;
}): WriteFailures {
  const { log } = options;
  let writeFailures = 0;
  let notJournaled = 0;
  /** When writing started failing; null while writes succeed. */
  let since: number | null = null;
  let notJournaledSince = 0;
  let retryDelayMs = 0;
  let nextAttemptAt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;

  const scheduleRetry = () => {
    if (retryTimer !== null) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      options.retry();
    }, retryDelayMs);
    retryTimer.unref?.();
  };

  return {
    backingOff: (force) => since !== null && !force && Date.now() < nextAttemptAt,
    failed(error) {
      writeFailures++;
      const now = Date.now();
      if (since === null) {
        since = now;
        notJournaledSince = notJournaled;
        retryDelayMs = RETRY_FIRST_MS;
        log(
          "error",
          `cannot write the journal (${String(error)}): entries stay in memory (up to ${options.maxUnwrittenBytes} bytes) and writing is retried, backing off to every ${RETRY_MAX_MS} ms`,
        );
      } else retryDelayMs = Math.min(retryDelayMs * 2, RETRY_MAX_MS);
      nextAttemptAt = now + retryDelayMs;
      scheduleRetry();
    },
    succeeded() {
      if (since === null) return;
      const lost = notJournaled - notJournaledSince;
      log(
        "info",
        `the journal is written again after ${Date.now() - since} ms; ${lost} entries could not be journaled (clients resuming across them are told the gap)`,
      );
      since = null;
    },
    gaveUp(entries) {
      notJournaled += entries;
    },
    stats: () => ({ writing: since === null, writeFailures, notJournaled }),
    close() {
      if (retryTimer !== null) clearTimeout(retryTimer);
      retryTimer = null;
    },
  };
}
