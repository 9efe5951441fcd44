/**
 * Delivery of webhooks to the outputs hookstream itself delivers. The pending attempts live in the store
 * (created with their delivery, see store.ts), not here: this process claims due ones under a lease, sends
 * each as one HTTP request with the exact bytes received, and records the outcome, scheduling the next try
 * with backoff when the request may pass later. A restart, or another instance in cluster mode, picks up
 * whatever is due or whose lease ran out; so delivery is at least once (a process that dies between the
 * answer and the record sends that webhook again).
 *
 * Ingest never waits for it: it runs beside the input endpoint, woken after a commit, when a request ends,
 * and by one timer set for when the store says the next attempt comes due (a retry, a lease running out),
 * so an idle server claims nothing. At most MAX_CONCURRENT_REQUESTS deliveries (each holding its body) are in
 * memory at once.
 */

import { StoreUnavailableError } from "../../transport/errors.ts";
import { backoffMs, isRetryable, sendOnce } from "../http-attempt.ts";
import type { LogFn } from "../relay.ts";
import type { ClaimedAttempt, OutputAttempt, OutputStore } from "../store.ts";
import { targetRequest } from "../target-request.ts";

/** Requests to destinations at once, per process; each holds its webhook's body (up to the body limit). */
export const MAX_CONCURRENT_REQUESTS = 8;
/**
 * Requests per webhook and output before the attempt is recorded as failed: with the backoff below, a
 * destination gets about half an hour to come back.
 */
export const MAX_ATTEMPTS = 16;
/** Longest pause between two requests of one attempt: a destination back up is reached within this long. */
export const BACKOFF_CAP_MS = 5 * 60_000;
/** Bytes of a destination's answer kept with the outcome (shown in the Webhooks tab). */
export const MAX_KEPT_RESPONSE_BYTES = 4096;
/** How long one request may take. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** A claim's lease: longer than a request, so no two processes send one attempt at the same time. */
export const LEASE_MS = 2 * REQUEST_TIMEOUT_MS;
/**
 * The longest sleep, when no attempt is known to come due sooner: it finds what no wake-up announced (another
 * instance that stored a delivery and died before claiming it). A restart finds due attempts at once.
 */
export const SAFETY_NET_POLL_MS = 30_000;
/** The next try after the store failed to answer (it is away: reported once per outage). */
export const RETRY_AFTER_FAILURE_MS = 1_000;
/** The shortest sleep: an attempt reported due that a claim did not return (another instance won it) is not chased in a loop. */
const MIN_SLEEP_MS = 50;

export interface DispatcherOptions {
  store: OutputStore;
  log: LogFn;
  /** The longest sleep (SAFETY_NET_POLL_MS by default). */
  pollMs?: number;
  requestTimeoutMs?: number;
}

export interface DispatcherStats {
  in_flight: number;
  delivered: number;
  failed: number;
  retries_scheduled: number;
}

export interface Dispatcher {
  /** Looks for due attempts soon (a delivery with such outputs was just stored). */
  wake(): void;
  stats(): DispatcherStats;
  /** Stops claiming and cuts the requests under way (their leases run out, and they are sent again). */
  close(): Promise<void>;
}

const decoder = new TextDecoder();

/** The next state of an attempt after one request; pure. */
export function settle(
  attempt: OutputAttempt,
  result: { status: number | null; error: string | null; body: Uint8Array },
  now: number,
  random: number,
): OutputAttempt {
  const attempts = attempt.attempts + 1;
  const retry = isRetryable(result.status) && attempts < MAX_ATTEMPTS;
  const state = retry ? "pending" : result.status !== null && result.status < 300 ? "delivered" : "failed";
  return {
    ...attempt,
    attempts,
    state,
    nextAt: retry ? now + backoffMs(attempts, random, BACKOFF_CAP_MS) : null,
    status: result.status,
    error: result.error ?? (state === "failed" ? `HTTP ${result.status}` : null),
    responseBody: decoder.decode(result.body),
    updatedAt: now,
  };
}

type Counts = { delivered: number; failed: number; retries: number };

/** Sends one claimed attempt and records its outcome; a shutdown cuts it short (its lease then runs out). */
function createSender(options: DispatcherOptions, stop: AbortSignal, counts: Counts) {
  const { store, log } = options;
  return async ({ attempt, delivery }: ClaimedAttempt) => {
    const result = await sendOnce(targetRequest(new URL(attempt.destination), delivery), {
      timeoutMs: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      stop,
      maxBodyBytes: MAX_KEPT_RESPONSE_BYTES,
    });
    // Cut short by a shutdown: the lease runs out and the next start sends it again.
    if (stop.aborted) return;
    const next = settle(attempt, result, Date.now(), Math.random());
    if (next.state === "delivered") counts.delivered++;
    else if (next.state === "failed") {
      counts.failed++;
      log(
        "warn",
        `output ${attempt.outputName}: gave up on delivery ${attempt.deliveryId} after ${next.attempts} attempts (${next.error})`,
      );
    } else counts.retries++;
    try {
      await store.recordOutputAttempt(next);
    } catch (error) {
      // Unrecorded, the attempt is claimed again when its lease runs out: sent once more, never lost.
      log(
        "error",
        `recording output ${attempt.outputName} of delivery ${attempt.deliveryId} failed: ${String(error)}`,
      );
    }
  };
}

/** How long to sleep after a claim round, from when the store says the next attempt is due. */
export function sleepAfterClaim(nextAt: number | null, now: number, longest: number): number {
  if (nextAt === null) return longest;
  return Math.min(longest, Math.max(MIN_SLEEP_MS, nextAt - now));
}

/** The dispatcher's one timer, and the store's failures (reported once per outage, tried again soon). */
function createAlarm(stop: AbortSignal, wake: () => void, log: LogFn) {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let failing = false;
  const sleep = (ms: number) => {
    if (timer !== null) clearTimeout(timer);
    timer = stop.aborted ? null : setTimeout(wake, ms);
    timer?.unref();
  };
  return {
    sleep,
    clear: () => {
      if (timer !== null) clearTimeout(timer);
    },
    storeAnswered: () => {
      failing = false;
    },
    /** Always false: the round ends, and the next one starts after RETRY_AFTER_FAILURE_MS. */
    storeFailed(what: string, error: unknown): false {
      if (!failing)
        log(error instanceof StoreUnavailableError ? "warn" : "error", `${what} failed: ${String(error)}`);
      failing = true;
      sleep(RETRY_AFTER_FAILURE_MS);
      return false;
    },
  };
}

export function startDispatcher(options: DispatcherOptions): Dispatcher {
  const { store, log } = options;
  const longest = options.pollMs ?? SAFETY_NET_POLL_MS;
  const stop = new AbortController();
  const requests = new Set<Promise<void>>();
  const counts: Counts = { delivered: 0, failed: 0, retries: 0 };
  const send = createSender(options, stop.signal, counts);
  let claiming: Promise<void> | null = null;
  let again = false;
  const alarm = createAlarm(stop.signal, () => wake(), log);

  /** Claims and starts due attempts while there is room; false when the store failed. */
  const claimDue = async (): Promise<boolean> => {
    while (!stop.signal.aborted && requests.size < MAX_CONCURRENT_REQUESTS) {
      let claimed: ClaimedAttempt[];
      try {
        claimed = await store.claimOutputAttempts(
          Date.now(),
          LEASE_MS,
          MAX_CONCURRENT_REQUESTS - requests.size,
        );
        alarm.storeAnswered();
      } catch (error) {
        return alarm.storeFailed("claiming output deliveries", error);
      }
      if (claimed.length === 0) break;
      for (const item of claimed) {
        const request: Promise<void> = send(item).finally(() => {
          requests.delete(request);
          wake();
        });
        requests.add(request);
      }
    }
    return true;
  };

  const round = async () => {
    let ok: boolean;
    do {
      again = false;
      ok = await claimDue();
    } while (ok && again && !stop.signal.aborted);
    if (!ok || stop.signal.aborted) return;
    // With every slot busy, the end of a request wakes the next round.
    if (requests.size >= MAX_CONCURRENT_REQUESTS) return alarm.sleep(longest);
    try {
      alarm.sleep(sleepAfterClaim(await store.nextOutputAttemptAt(), Date.now(), longest));
    } catch (error) {
      alarm.storeFailed("looking for the next output delivery", error);
    }
  };

  function wake() {
    if (stop.signal.aborted) return;
    if (claiming !== null) {
      again = true;
      return;
    }
    claiming = round().finally(() => {
      claiming = null;
      // Woken while it planned its sleep: claim again now.
      if (again) wake();
    });
  }

  wake();

  return {
    wake,
    stats: () => ({
      in_flight: requests.size,
      delivered: counts.delivered,
      failed: counts.failed,
      retries_scheduled: counts.retries,
    }),
    async close() {
      stop.abort();
      alarm.clear();
      await claiming;
      await Promise.all(requests);
    },
  };
}
