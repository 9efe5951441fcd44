/**
 * The relay service: the store, the group-commit writer, the live fan-out, the open sockets by token, and the
 * timers that keep them honest (keepalive pings, revocation made by another process, retention). Routes and
 * sessions call it; it publishes through the injected `publish` (in production `server.publish`, which
 * reaches every subscriber of a topic).
 *
 * Zero loss: a delivery is answered 2xx only once stored; it is published after that, in store order, and
 * every socket either received it live or reads it from the store (feed.ts), until retention deletes it.
 */
import type { LogEntry } from "../logs/entry.ts";
import type { AuthLimiter } from "../transport/auth-limiter.ts";
import { StoreUnavailableError } from "../transport/errors.ts";
import type { Peer, SocketSession } from "../transport/peer.ts";
import type { Answer } from "./answer-frame.ts";
import { type ByteBudget, createByteBudget } from "./byte-budget.ts";
import { deliveryLogEntry } from "./delivery-log.ts";
import { createFanout } from "./fanout.ts";
import { type Feed, type FeedStats, type Subscription, startFeed } from "./feed.ts";
import { noRejections, type RejectionCounts } from "./input.ts";
import { createLocalTopics, type LocalTopics } from "./local-topics.ts";
import { webhookMessage } from "./message.ts";
import { annotateDelivery, annotatingStore } from "./outputs/annotate.ts";
import { createOutputDirectory, type OutputDirectory } from "./outputs/directory.ts";
import { type DispatcherStats, startDispatcher } from "./outputs/dispatcher.ts";
import { type AnswerBus, createPassthrough, type Passthrough } from "./passthrough.ts";
import { ALL_BUCKETS_TOPIC, type AuthResult, bucketTopic, type Grant } from "./protocol.ts";
import { createRelaySession, type SessionHandle } from "./session.ts";
import type { AppendResult, NewDelivery, RelayStore, Token } from "./store.ts";
import { type DeliveryStream, followDeliveryStream } from "./stream-follower.ts";
import { type Credentials, looksLikeTokenKey, secretMatches } from "./tokens.ts";
import { type CommitDurations, createDeliveryWriter } from "./writer.ts";

/**
 * Webhook body bytes being received or waiting to be stored at once; past it senders get 503. A body with a
 * Content-Length reserves that much, a chunked one the whole MAX_BODY_BYTES.
 */
export const MAX_BODY_BYTES_IN_FLIGHT = 512 * 1024 * 1024;
/** Sockets waiting for their `auth` at once; past it new sockets are closed with 1013 (try again later). */
export const MAX_PENDING_AUTH = 4096;
/**
 * Deliveries deleted per retention transaction, so one never holds the write lock (or the event loop) for
 * long. A pass runs transactions until nothing is past the limits, yielding to the event loop between them.
 */
const PRUNE_BATCH = 1000;
/** Cluster mode: a cursor ahead of this instance's stream follower is waited for this long. */
const CURSOR_AHEAD_WAIT_MS = 5_000;
/** A catching-up socket is sent stored deliveries while less than this is queued on it. */
export const CATCH_UP_HIGH_WATER_BYTES = 256 * 1024;

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
  /** How often to pick up another process's (the CLI's) changes: revoked tokens, input settings. */
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
  /** A socket behind the live stream that drains nothing for this long is closed (4100). */
  stallTimeoutMs: number;
  /**
   * Cluster mode: the stream every instance appends to. Live deliveries are then published from it (also
   * this instance's own), instead of right after this instance's commits.
   */
  sharedStream?: DeliveryStream;
  /** Cluster mode: carries passthrough answers to the instance holding the sender. */
  answerBus?: AnswerBus;
  log: LogFn;
}

/** What the writer carries along with each delivery, for the relayed message and the log entry. */
interface DeliveryContext {
  bucketName: string;
  inputName: string;
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
  inputUrl(inputId: string): string;
  /** Stores a delivery durably (group commit) and relays it; resolves after the commit. */
  accept(delivery: NewDelivery, context: DeliveryContext): Promise<AppendResult>;
  createSession(address: string): SocketSession;
  /** Senders waiting for an agent's answer. */
  readonly passthrough: Passthrough;
  /** Outputs and passthrough settings as messages carry them; refresh after changing them. */
  readonly outputs: OutputDirectory;
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
  /** Waits for queued deliveries to commit, stops the timers and closes the store. Call after sockets closed. */
  close(): Promise<void>;
}

export async function createRelay(options: RelayOptions): Promise<Relay> {
  const { store, log } = options;
  const { authLimiter } = options;
  const sessionsByToken = new Map<number, Set<SessionHandle>>();
  let authenticatedCount = 0;
  let pendingAuth = 0;
  let retentionDeleted = 0;
  let socketAuthFailures = 0;
  const rejected = noRejections();
  let closed = false;

  const { cursors, lastPosition } = await store.deliveryPosition();
  const outputs = createOutputDirectory(store);
  const passthrough = createPassthrough({ log, ...(options.answerBus ? { bus: options.answerBus } : {}) });
  await outputs.refresh();
  const localTopics = createLocalTopics();
  const fanout = createFanout({
    publish: (topic, payload) => {
      options.publish(topic, payload);
      localTopics.publish(topic, payload);
    },
    subscriberCount: (topic) => options.subscriberCount(topic) + localTopics.count(topic),
    lagBytes: options.lagBytes,
    startId: lastPosition,
  });
  const feedStats: FeedStats = { catchingUp: 0, closedTooSlow: 0, closedBehindRetention: 0, gapsReported: 0 };
  const feedDeps = {
    store: annotatingStore(store, outputs),
    fanout,
    cursors,
    limits: {
      catchUpHighWaterBytes: CATCH_UP_HIGH_WATER_BYTES,
      stallTimeoutMs: options.stallTimeoutMs,
      cursorAheadWaitMs: options.sharedStream === undefined ? 0 : CURSOR_AHEAD_WAIT_MS,
    },
    stats: feedStats,
    log,
  };

  /**
   * One message per output of the bucket (one with empty output fields when it has none), all at the
   * delivery's position in one synchronous step. Each is serialised once, however many sockets receive it,
   * and only when someone listens.
   */
  const publishLive = (id: string, delivery: NewDelivery, names: DeliveryContext) => {
    const position = cursors.positionOf(id);
    const annotated = annotateDelivery(outputs, delivery, Date.now());
    const meta = {
      id,
      bucketId: delivery.bucketId,
      bucketName: names.bucketName,
      inputId: delivery.inputId,
      inputName: names.inputName,
    };
    const topics = [bucketTopic(delivery.bucketId), ALL_BUCKETS_TOPIC];
    const cursor = cursors.format(position);
    const targets = annotated.outputs.length === 0 ? [null] : annotated.outputs;
    for (const output of targets)
      fanout.publish(position, topics, () => webhookMessage(meta, annotated, cursor, output));
  };
  const { sharedStream } = options;
  const streamFollower =
    sharedStream === undefined
      ? null
      : followDeliveryStream({
          stream: sharedStream,
          cursors,
          fromPosition: lastPosition,
          publish: (delivery) => publishLive(delivery.id, delivery, delivery),
          log,
        });

  const dispatcher = startDispatcher({ store, log });
  const writer = createDeliveryWriter<DeliveryContext>({
    store,
    log,
    onCommitted({ id, delivery, context }) {
      if (streamFollower === null) publishLive(id, delivery, context);
      if (outputs.outputsOf(delivery.bucketId).some((output) => output.deliveredBy === "hookstream"))
        dispatcher.wake();
      // The log entry is written once, by the instance that accepted the delivery.
      options.logs.publish(
        deliveryLogEntry({
          deliveryId: id,
          bucketName: context.bucketName,
          headers: delivery.headers,
          body: delivery.body,
          receivedAt: delivery.receivedAt,
        }),
      );
    },
  });

  const revokeSessions = (tokenId: number) => {
    const handles = sessionsByToken.get(tokenId);
    if (handles === undefined) return;
    sessionsByToken.delete(tokenId);
    for (const handle of handles) handle.revoke();
  };

  // No timer keeps the process alive; the ping timer runs only while sockets are authenticated.
  let pingTimer: ReturnType<typeof setInterval> | null = null;
  let lastVersion: number | null = null;
  let rechecking = false;

  const recheck = async () => {
    if (rechecking) return;
    rechecking = true;
    try {
      const version = await store.externalChanges();
      if (version === lastVersion) return;
      // Before the version is taken as seen: a refresh that failed is tried again on the next tick.
      if (lastVersion !== null) await outputs.refresh();
      lastVersion = version;
      if (sessionsByToken.size === 0) return;
      for (const tokenId of await store.inactiveTokens([...sessionsByToken.keys()])) revokeSessions(tokenId);
    } catch (error) {
      // An unreachable store is reported once by its connection; the next tick tries again.
      if (!(error instanceof StoreUnavailableError))
        log("error", `checking for changes by other processes failed: ${String(error)}`);
    } finally {
      rechecking = false;
    }
  };
  void recheck();
  const recheckTimer = setInterval(() => void recheck(), options.recheckMs);
  recheckTimer.unref();

  const startPings = () => {
    if (closed || pingTimer !== null) return;
    pingTimer = setInterval(() => {
      for (const handles of sessionsByToken.values()) for (const handle of handles) handle.ping();
    }, options.pingIntervalMs);
    pingTimer.unref();
  };

  const stopPings = () => {
    if (pingTimer !== null) clearInterval(pingTimer);
    pingTimer = null;
  };

  const retains = options.retentionMs > 0 || options.retentionCount > 0;
  /** The retention pass under way, if any: one at a time, and close() waits for it. */
  let pruning: Promise<void> | null = null;
  const prunePass = async () => {
    try {
      const policy = {
        receivedBefore: options.retentionMs > 0 ? Date.now() - options.retentionMs : null,
        keepNewest: options.retentionCount > 0 ? options.retentionCount : null,
      };
      for (let deleted = PRUNE_BATCH; deleted === PRUNE_BATCH && !closed; ) {
        deleted = await store.pruneDeliveries(policy, PRUNE_BATCH);
        retentionDeleted += deleted;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      log("error", `deleting old deliveries failed: ${String(error)}`);
    }
  };
  const prune = () => {
    if (pruning !== null || closed) return;
    pruning = prunePass().finally(() => {
      pruning = null;
    });
  };
  if (retains) prune();
  const pruneTimer = retains ? setInterval(prune, options.pruneIntervalMs) : null;
  pruneTimer?.unref();

  /**
   * Failures count against the key they name, so guessing one token's secret does not lock out other tokens
   * used from the same address. Keys that do not exist share one record per address: they cannot succeed,
   * and one record each would let a flood of made-up keys push real records out.
   */
  const authenticate = async (address: string, credentials: Credentials) => {
    const found = await store.findToken(credentials.key);
    const credential = found === null ? "relay-key:unknown" : `relay-key:${found.token.key}`;
    if (!authLimiter.allows(address, credential)) return "rate_limited" as const;
    if (
      found === null ||
      found.token.revokedAt !== null ||
      !secretMatches(credentials.secret, found.secretHash)
    ) {
      authLimiter.recordFailure(address, credential);
      return null;
    }
    return found.token;
  };

  const sessionDeps = {
    async authenticate(address: string, key: string, secret: string): Promise<AuthResult> {
      const token = await authenticate(address, { key, secret });
      // The access record of a relay socket: its token is known only now, after the upgrade.
      const access = { address, endpoint: "/v1/socket", key: looksLikeTokenKey(key) ? key : "malformed" };
      if (token === "rate_limited" || token === null) {
        socketAuthFailures++;
        log("warn", "relay socket refused", { ...access, reason: token ?? "invalid" });
        return { ok: false, reason: token ?? "invalid" };
      }
      log("info", "relay socket authenticated", { ...access, buckets: token.bucketIds ?? "all" });
      return { ok: true, grant: { tokenId: token.id, bucketIds: token.bucketIds } };
    },
    async lookupBuckets(refs: readonly string[] | null) {
      if (refs === null) return store.listBuckets();
      const found = [];
      for (const ref of refs) {
        const bucket = await store.findBucket(ref);
        if (bucket !== null) found.push({ id: bucket.id, name: bucket.name });
      }
      return found;
    },
    authenticated(handle: SessionHandle, grant: Grant) {
      let handles = sessionsByToken.get(grant.tokenId);
      if (handles === undefined) {
        handles = new Set();
        sessionsByToken.set(grant.tokenId, handles);
      }
      handles.add(handle);
      authenticatedCount++;
      startPings();
      return () => {
        authenticatedCount--;
        const current = sessionsByToken.get(grant.tokenId);
        current?.delete(handle);
        if (current?.size === 0) sessionsByToken.delete(grant.tokenId);
        if (authenticatedCount === 0) stopPings();
      };
    },
    admitPending() {
      if (pendingAuth >= MAX_PENDING_AUTH) return false;
      pendingAuth++;
      return true;
    },
    releasePending() {
      pendingAuth--;
    },
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
    inputUrl: (inputId) => `${options.publicUrl()}/v1/webhooks/${inputId}`,
    accept: (delivery, context) => writer.append(delivery, context),
    createSession: (address) => createRelaySession(sessionDeps, address),
    outputs,
    passthrough,
    localTopics,
    startFeed: (peer, subscription) => startFeed(feedDeps, peer, subscription),
    authenticate,
    async revokeToken(key) {
      const found = await store.findToken(key);
      if (found === null || !(await store.revokeToken(key))) return false;
      revokeSessions(found.token.id);
      return true;
    },
    stats: () => {
      const written = writer.stats();
      const fanned = fanout.stats();
      return {
        authenticated: authenticatedCount,
        pending_auth: pendingAuth,
        live: fanned.live,
        catching_up: feedStats.catchingUp,
        lag_events: fanned.lagEvents,
        messages_sent: fanned.messagesSent,
        bytes_sent: fanned.bytesSent,
        closed_too_slow: feedStats.closedTooSlow,
        closed_behind_retention: feedStats.closedBehindRetention,
        gaps_reported: feedStats.gapsReported,
        deliveries_stored: written.committed,
        duplicates: written.duplicates,
        deliveries_failed: written.failed,
        queued: written.queued,
        retention_deleted: retentionDeleted,
        newest_cursor: cursors.format(fanout.published()),
        auth_failures_tracked: authLimiter.tracked(),
        socket_auth_failures: socketAuthFailures,
        webhooks_rejected: { ...rejected },
        outputs: dispatcher.stats(),
        passthrough_waiting: passthrough.waiting(),
      };
    },
    commitDurations: () => writer.commitDurations(),
    async close() {
      if (closed) return;
      closed = true;
      stopPings();
      passthrough.close();
      clearInterval(recheckTimer);
      if (pruneTimer !== null) clearInterval(pruneTimer);
      const following = streamFollower?.stop();
      await pruning;
      await writer.idle();
      await dispatcher.close();
      // Closing the store also ends the stream read under way.
      await store.close();
      await following;
    },
  };
}
