/**
 * The relay service, composed: the path from commit to sockets (live.ts), subscriptions that catch up from
 * the store (feed.ts), the open sockets (sessions.ts), and what keeps them honest (recheck.ts: revocations
 * made by another process; retention.ts). Routes and sessions call it; it publishes through the injected `publish` (in
 * production `server.publish`, which reaches every subscriber of a topic).
 *
 * Zero loss: a delivery is answered 2xx only once stored; it is published after that, in store order, and
 * every socket either received it live or reads it from the store (feed.ts), until retention deletes it.
 */
import type { LogEntry } from "../logs/entry.ts";
import { CATCH_UP_HIGH_WATER_BYTES } from "../stream/subscriber.ts";
import type { AuthLimiter } from "../transport/auth-limiter.ts";
import type { Peer, SocketSession } from "../transport/peer.ts";
import type { Answer } from "./answer-frame.ts";
import { createAuthenticate } from "./authenticate.ts";
import { type ByteBudget, createByteBudget } from "./byte-budget.ts";
import type { DeliverySource } from "./delivery-source.ts";
import { type Feed, type FeedStats, type Subscription, startFeed } from "./feed.ts";
import { noRejections, type RejectionCounts } from "./input.ts";
import { type DeliveryContext, type LiveDeliveries, startLiveDeliveries } from "./live.ts";
import type { LocalTopics } from "./local-topics.ts";
import { annotatingStore } from "./outputs/annotate.ts";
import { createOutputDirectory, type OutputDirectory } from "./outputs/directory.ts";
import { type DispatcherStats, startDispatcher } from "./outputs/dispatcher.ts";
import { type AnswerBus, createPassthrough, type Passthrough } from "./passthrough.ts";
import type { Grant } from "./protocol.ts";
import { type RecentDeliveries, recentFirst } from "./recent-deliveries.ts";
import { startRecheck } from "./recheck.ts";
import { startRetention } from "./retention.ts";
import { createRelaySession, type SessionHandle } from "./session.ts";
import { createSessionRegistry, type SessionRegistry } from "./sessions.ts";
import { createSocketAuth } from "./socket-auth.ts";
import type { AppendResult, NewDelivery, RelayStore, Token } from "./store.ts";
import type { Credentials } from "./tokens.ts";
import type { CommitDurations } from "./writer.ts";

/**
 * Webhook body bytes being received or waiting to be stored at once; past it senders get 503. A body with a
 * Content-Length reserves that much, a chunked one the whole MAX_BODY_BYTES.
 */
export const MAX_BODY_BYTES_IN_FLIGHT = 512 * 1024 * 1024;

export type LogFn = (
  level: "info" | "warn" | "error",
  message: string,
  fields?: Record<string, unknown>,
) => void;

export interface RelayOptions {
  store: RelayStore;
  publish: (topic: string, payload: string) => void;
  /** Sockets subscribed to a topic (`server.subscriberCount`), so nobody listening costs no serialisation. */
  subscriberCount: (topic: string) => number;
  logs: { publish(entry: LogEntry): void };
  /** Base of the public input URLs, without a trailing slash. Read when a URL is built. */
  publicUrl: () => string;
  maxBodyBytes: number;
  authTimeoutMs: number;
  pingIntervalMs: number;
  /** How often to poll for another process's (the CLI's) changes where the store cannot report them. */
  recheckMs: number;
  /** Shared with every other credential path of the server. */
  authLimiter: AuthLimiter;
  /** Deliveries older than this are deleted; 0 keeps them forever. */
  retentionMs: number;
  /** Only the newest this many deliveries (over all buckets) are kept; 0: any number. */
  retentionCount: number;
  /** How often retention runs (also once at start). */
  pruneIntervalMs: number;
  /** Queued bytes after which a live socket is served from the store instead (kept well under Bun's limit). */
  lagBytes: number;
  /** What the live sockets hold queued together at most: with many, each one's room is its share. */
  lagTotalBytes: number;
  /** What the sockets catching up at once hold together at most: with many, each one's is its share. */
  catchUpTotalBytes: number;
  /** The recent deliveries kept in memory for sockets catching up (recent-deliveries.ts); 0: none. */
  recentBytes: number;
  /** A socket behind the live stream that drains nothing for this long is closed (4100). */
  stallTimeoutMs: number;
  /** What the live fan-out follows: this process's commits, or the stream every instance appends to. */
  deliveries: DeliverySource;
  /** How long a subscribe with a cursor ahead of what this instance published waits for it (0: not at all). */
  cursorAheadWaitMs: number;
  /** Cluster mode: carries passthrough answers to the instance holding the sender. */
  answerBus?: AnswerBus;
  log: LogFn;
}

/** The relay's part of `/health`. */
export interface RelayStats {
  authenticated: number;
  pending_auth: number;
  /** Subscriptions fed by the live fan-out. */
  live: number;
  /** Subscriptions fed from the store: resuming from a cursor, or lagging. */
  catching_up: number;
  lag_events: number;
  /** Messages the live fan-out sent, once per socket, and their bytes. */
  messages_sent: number;
  bytes_sent: number;
  closed_too_slow: number;
  closed_behind_retention: number;
  gaps_reported: number;
  /** Pages read by catching-up sockets from the recent deliveries in memory, and from the store. */
  catch_up_pages_from_memory: number;
  catch_up_pages_from_store: number;
  /** What the recent deliveries in memory count towards their limit (`RELAY_RECENT_BYTES`). */
  recent_deliveries_bytes: number;
  deliveries_stored: number;
  duplicates: number;
  /** Deliveries whose transaction failed (the sender got 503 or 500; nothing of it was stored). */
  deliveries_failed: number;
  queued: number;
  retention_deleted: number;
  /** Cursor of the newest delivery published. */
  newest_cursor: string;
  auth_failures_tracked: number;
  /** Relay sockets refused at `auth` (bad credentials or rate-limited). */
  socket_auth_failures: number;
  webhooks_rejected: RejectionCounts;
  /** This process's deliveries to outputs hookstream delivers. */
  outputs: DispatcherStats;
  /** Senders waiting here for an agent's answer (response passthrough). */
  passthrough_waiting: number;
}

export interface Relay {
  readonly store: RelayStore;
  readonly maxBodyBytes: number;
  /** Shared by all requests receiving a body. */
  readonly bodies: ByteBudget;
  /** Refused deliveries by reason, counted by the input endpoint. */
  readonly rejected: RejectionCounts;
  /** Senders waiting for an agent's answer. */
  readonly passthrough: Passthrough;
  /** Outputs and passthrough settings as messages carry them; refresh after changing them. */
  readonly outputs: OutputDirectory;
  inputUrl(inputId: string): string;
  /** Stores a delivery durably (group commit) and relays it; resolves after the commit. */
  accept(delivery: NewDelivery, context: DeliveryContext): Promise<AppendResult>;
  createSession(address: string): SocketSession;
  /** Subscribers that are not WebSockets (event-streams), fed by the same fan-out as the sockets. */
  readonly localTopics: LocalTopics;
  /** What a subscribe starts, for a peer that is not a relay socket (its topics are `localTopics`). */
  startFeed(peer: Peer, subscription: Subscription): Feed;
  /** The active token these credentials belong to, or null. Counts failures against `address`. */
  authenticate(address: string, credentials: Credentials): Promise<Token | null | "rate_limited">;
  /** Revokes the token and closes its open sockets (4003). */
  revokeToken(key: string): Promise<boolean>;
  stats(): RelayStats;
  /** How long the store's group commits took. */
  commitDurations(): CommitDurations;
  /**
   * Waits for queued deliveries to commit and stops the timers and the following of the delivery source.
   * Call after sockets closed, before the store closes (which the relay does not own).
   */
  close(): Promise<void>;
}

/** Where catching-up sockets read their pages, and what the recent deliveries in memory hold. */
function recentStats(
  recent: RecentDeliveries,
): Pick<RelayStats, "catch_up_pages_from_memory" | "catch_up_pages_from_store" | "recent_deliveries_bytes"> {
  const { pagesFromMemory, pagesFromStore, heldBytes } = recent.stats();
  return {
    catch_up_pages_from_memory: pagesFromMemory,
    catch_up_pages_from_store: pagesFromStore,
    recent_deliveries_bytes: heldBytes,
  };
}

/** The sockets' part of the relay's stats: sessions, the live fan-out and the subscriptions fed from the store. */
function sessionAndFeedStats(
  sessions: SessionRegistry,
  fanout: LiveDeliveries["fanout"],
  feed: FeedStats,
): Pick<
  RelayStats,
  | "authenticated"
  | "pending_auth"
  | "live"
  | "catching_up"
  | "lag_events"
  | "messages_sent"
  | "bytes_sent"
  | "closed_too_slow"
  | "closed_behind_retention"
  | "gaps_reported"
> {
  const fanned = fanout.stats();
  const open = sessions.stats();
  return {
    authenticated: open.authenticated,
    pending_auth: open.pendingAuth,
    live: fanned.live,
    catching_up: feed.catchingUp,
    lag_events: fanned.lagEvents,
    messages_sent: fanned.messagesSent,
    bytes_sent: fanned.bytesSent,
    closed_too_slow: feed.closedTooSlow,
    closed_behind_retention: feed.closedBehindRetention,
    gaps_reported: feed.gapsReported,
  };
}

function writtenStats(
  written: ReturnType<LiveDeliveries["writer"]["stats"]>,
): Pick<RelayStats, "deliveries_stored" | "duplicates" | "deliveries_failed" | "queued"> {
  return {
    deliveries_stored: written.committed,
    duplicates: written.duplicates,
    deliveries_failed: written.failed,
    queued: written.queued,
  };
}

/**
 * What keeps the relay honest while it runs: sessions closed when their token stops being active, cached
 * outputs refreshed after other processes' changes (recheck.ts), old deliveries deleted (retention.ts).
 */
function startUpkeep(options: RelayOptions, sessions: SessionRegistry, outputs: OutputDirectory) {
  const { store, log } = options;
  const stopRecheck = startRecheck({
    store,
    sessions,
    intervalMs: options.recheckMs,
    log,
    onChanged: () => outputs.refresh(),
  });
  const retention = startRetention({
    store,
    retentionMs: options.retentionMs,
    retentionCount: options.retentionCount,
    intervalMs: options.pruneIntervalMs,
    log,
  });
  return {
    deleted: () => retention.deleted(),
    async stop() {
      stopRecheck();
      await retention.stop();
    },
  };
}

export async function createRelay(options: RelayOptions): Promise<Relay> {
  const { store, log, authLimiter } = options;
  const rejected = noRejections();
  let closed = false;

  const { cursors, lastPosition } = await store.deliveryPosition();
  const outputs = createOutputDirectory(store);
  const passthrough = createPassthrough({ log, ...(options.answerBus ? { bus: options.answerBus } : {}) });
  await outputs.refresh();
  const dispatcher = startDispatcher({ store, log });
  const live = startLiveDeliveries({
    ...options,
    cursors,
    lastPosition,
    outputs,
    afterCommit(delivery) {
      if (outputs.outputsOf(delivery.bucketId).some((output) => output.deliveredBy === "hookstream"))
        dispatcher.wake();
    },
  });
  const { writer, fanout, recent, localTopics } = live;
  const feedStats: FeedStats = { catchingUp: 0, closedTooSlow: 0, closedBehindRetention: 0, gapsReported: 0 };
  const feedDeps = {
    store: annotatingStore(recentFirst(store, recent), outputs),
    fanout,
    cursors,
    limits: {
      catchUpHighWaterBytes: CATCH_UP_HIGH_WATER_BYTES,
      catchUpTotalBytes: options.catchUpTotalBytes,
      stallTimeoutMs: options.stallTimeoutMs,
      cursorAheadWaitMs: options.cursorAheadWaitMs,
    },
    stats: feedStats,
    log,
  };

  const sessions = createSessionRegistry(options.pingIntervalMs);
  const upkeep = startUpkeep(options, sessions, outputs);
  const authenticate = createAuthenticate(store, authLimiter);
  const socketAuth = createSocketAuth({ store, authenticate, log });
  const sessionDeps = {
    ...socketAuth,
    authenticated: (handle: SessionHandle, grant: Grant) => sessions.add(grant.tokenId, handle),
    admitPending: () => sessions.admitPending(),
    releasePending: () => sessions.releasePending(),
    startFeed: (peer: Peer, subscription: Subscription) => startFeed(feedDeps, peer, subscription),
    answer: (grant: Grant, id: string, answer: Answer) => passthrough.answer(grant.bucketIds, id, answer),
    pingMaxQueuedBytes: options.lagBytes,
    authTimeoutMs: options.authTimeoutMs,
    log,
  };

  return {
    store,
    maxBodyBytes: options.maxBodyBytes,
    bodies: createByteBudget(Math.max(MAX_BODY_BYTES_IN_FLIGHT, options.maxBodyBytes)),
    rejected,
    outputs,
    passthrough,
    inputUrl: (inputId) => `${options.publicUrl()}/v1/webhooks/${inputId}`,
    accept: (delivery, context) => writer.append(delivery, context),
    createSession: (address) => createRelaySession(sessionDeps, address),
    localTopics,
    startFeed: (peer, subscription) => startFeed(feedDeps, peer, subscription),
    authenticate,
    async revokeToken(key) {
      const found = await store.findToken(key);
      if (found === null || !(await store.revokeToken(key))) return false;
      sessions.revoke(found.token.id);
      return true;
    },
    stats: () => ({
      ...sessionAndFeedStats(sessions, fanout, feedStats),
      ...recentStats(recent),
      ...writtenStats(writer.stats()),
      retention_deleted: upkeep.deleted(),
      newest_cursor: cursors.format(fanout.published()),
      auth_failures_tracked: authLimiter.tracked(),
      socket_auth_failures: socketAuth.failures(),
      webhooks_rejected: { ...rejected },
      outputs: dispatcher.stats(),
      passthrough_waiting: passthrough.waiting(),
    }),
    commitDurations: () => writer.commitDurations(),
    async close() {
      if (closed) return;
      closed = true;
      sessions.close();
      passthrough.close();
      live.stop();
      await upkeep.stop();
      await writer.idle();
      await dispatcher.close();
    },
  };
}
