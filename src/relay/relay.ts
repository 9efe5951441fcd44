/**
 * The relay service: the store, the group-commit writer, the open sockets by token, and the timers that keep
 * them honest (keepalive pings, revocation made by another process, retention). Routes and sessions call it;
 * it publishes through the injected `publish` (in production `server.publish`, which reaches every
 * subscriber of a topic).
 */
import type { LogEntry } from "../logs/entry.ts";
import type { Peer, SocketSession } from "../transport/peer.ts";
import { createAuthLimiter } from "./auth-limiter.ts";
import { type ByteBudget, createByteBudget } from "./byte-budget.ts";
import { deliveryLogEntry } from "./delivery-log.ts";
import { PING, webhookMessage } from "./message.ts";
import { ALL_BUCKETS_TOPIC, type AuthResult, bucketTopic, type Grant } from "./protocol.ts";
import { createRelaySession, type SessionHandle } from "./session.ts";
import type { AppendResult, NewDelivery, RelayStore, Token } from "./store.ts";
import { type Credentials, secretMatches } from "./tokens.ts";
import { createDeliveryWriter, type WriterStats } from "./writer.ts";

/**
 * Webhook body bytes being received or waiting to be stored at once; past it senders get 503. A body with a
 * Content-Length reserves that much, a chunked one the whole MAX_BODY_BYTES.
 */
export const MAX_BODY_BYTES_IN_FLIGHT = 512 * 1024 * 1024;
/** Sockets waiting for their `auth` at once; past it new sockets are closed with 1013 (try again later). */
export const MAX_PENDING_AUTH = 4096;
/** Every authenticated socket subscribes to this topic; one publish pings them all. */
export const PING_TOPIC = "relay/ping";
/** Deliveries deleted per retention pass, so one pass never holds the write lock for long. */
const PRUNE_BATCH = 1000;
const PRUNE_INTERVAL_MS = 60_000;

export type LogFn = (level: "info" | "warn" | "error", message: string) => void;

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
  authFailuresPerMinute: number;
  /** Deliveries older than this are deleted; 0 keeps them forever. */
  retentionMs: number;
  log: LogFn;
}

/** What the writer carries along with each delivery, for the relayed message and the log entry. */
interface DeliveryContext {
  bucketName: string;
  inputName: string;
}

export interface RelayStats {
  sockets: { authenticated: number; pendingAuth: number };
  writer: WriterStats;
  authFailuresTracked: number;
}

export interface Relay {
  readonly store: RelayStore;
  readonly maxBodyBytes: number;
  /** Shared by all requests receiving a body. */
  readonly bodies: ByteBudget;
  inputUrl(inputId: string): string;
  /** Stores a delivery durably (group commit) and relays it; resolves after the commit. */
  accept(delivery: NewDelivery, context: DeliveryContext): Promise<AppendResult>;
  createSession(address: string): SocketSession;
  /** The active token these credentials belong to, or null. Counts failures against `address`. */
  authenticate(address: string, credentials: Credentials): Promise<Token | null | "rate_limited">;
  /** Revokes the token and closes its open sockets (4003). */
  revokeToken(key: string): Promise<boolean>;
  stats(): RelayStats;
  /** Waits for queued deliveries to commit, stops the timers and closes the store. Call after sockets closed. */
  close(): Promise<void>;
}

export function createRelay(options: RelayOptions): Relay {
  const { store, log } = options;
  const authLimiter = createAuthLimiter({ maxFailures: options.authFailuresPerMinute });
  const sessionsByToken = new Map<number, Set<SessionHandle>>();
  let authenticatedCount = 0;
  let pendingAuth = 0;
  let closed = false;

  const writer = createDeliveryWriter<DeliveryContext>({
    store,
    log,
    onCommitted({ id, delivery, context }) {
      const topic = bucketTopic(delivery.bucketId);
      const toBucket = options.subscriberCount(topic) > 0;
      const toAll = options.subscriberCount(ALL_BUCKETS_TOPIC) > 0;
      if (toBucket || toAll) {
        // Serialised once, however many sockets receive it.
        const message = webhookMessage(
          {
            id,
            bucketId: delivery.bucketId,
            bucketName: context.bucketName,
            inputId: delivery.inputId,
            inputName: context.inputName,
          },
          delivery,
        );
        if (toBucket) options.publish(topic, message);
        if (toAll) options.publish(ALL_BUCKETS_TOPIC, message);
      }
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
      lastVersion = version;
      if (sessionsByToken.size === 0) return;
      for (const tokenId of await store.inactiveTokens([...sessionsByToken.keys()])) revokeSessions(tokenId);
    } catch (error) {
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
    pingTimer = setInterval(() => options.publish(PING_TOPIC, PING), options.pingIntervalMs);
    pingTimer.unref();
  };

  const stopPings = () => {
    if (pingTimer !== null) clearInterval(pingTimer);
    pingTimer = null;
  };

  const prune = async () => {
    if (options.retentionMs <= 0) return;
    try {
      const before = Date.now() - options.retentionMs;
      let deleted = PRUNE_BATCH;
      for (let pass = 0; pass < 10 && deleted === PRUNE_BATCH; pass++)
        deleted = await store.pruneDeliveries(before, PRUNE_BATCH);
    } catch (error) {
      log("error", `deleting old deliveries failed: ${String(error)}`);
    }
  };
  const pruneTimer = options.retentionMs > 0 ? setInterval(() => void prune(), PRUNE_INTERVAL_MS) : null;
  pruneTimer?.unref();

  const authenticate = async (address: string, credentials: Credentials) => {
    if (!authLimiter.allows(address)) return "rate_limited" as const;
    const found = await store.findToken(credentials.key);
    if (
      found === null ||
      found.token.revokedAt !== null ||
      !secretMatches(credentials.secret, found.secretHash)
    ) {
      authLimiter.recordFailure(address);
      return null;
    }
    return found.token;
  };

  const sessionDeps = {
    async authenticate(address: string, key: string, secret: string): Promise<AuthResult> {
      const token = await authenticate(address, { key, secret });
      if (token === "rate_limited") return { ok: false, reason: "rate_limited" };
      if (token === null) return { ok: false, reason: "invalid" };
      return { ok: true, grant: { tokenId: token.id, bucketIds: token.bucketIds } };
    },
    async lookupBuckets(refs: readonly string[] | null) {
      if (refs === null) return { found: await store.listBuckets(), missing: [] };
      const found = [];
      const missing = [];
      for (const ref of refs) {
        const bucket = await store.findBucket(ref);
        if (bucket === null) missing.push(ref);
        else found.push({ id: bucket.id, name: bucket.name });
      }
      return { found, missing };
    },
    authenticated(handle: SessionHandle, grant: Grant, peer: Peer) {
      let handles = sessionsByToken.get(grant.tokenId);
      if (handles === undefined) {
        handles = new Set();
        sessionsByToken.set(grant.tokenId, handles);
      }
      handles.add(handle);
      authenticatedCount++;
      peer.subscribe(PING_TOPIC);
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
    authTimeoutMs: options.authTimeoutMs,
    log,
  };

  return {
    store,
    maxBodyBytes: options.maxBodyBytes,
    bodies: createByteBudget(Math.max(MAX_BODY_BYTES_IN_FLIGHT, options.maxBodyBytes)),
    inputUrl: (inputId) => `${options.publicUrl()}/v1/webhooks/${inputId}`,
    accept: (delivery, context) => writer.append(delivery, context),
    createSession: (address) => createRelaySession(sessionDeps, address),
    authenticate,
    async revokeToken(key) {
      const found = await store.findToken(key);
      if (found === null || !(await store.revokeToken(key))) return false;
      revokeSessions(found.token.id);
      return true;
    },
    stats: () => ({
      sockets: { authenticated: authenticatedCount, pendingAuth },
      writer: writer.stats(),
      authFailuresTracked: authLimiter.tracked(),
    }),
    async close() {
      if (closed) return;
      closed = true;
      stopPings();
      clearInterval(recheckTimer);
      if (pruneTimer !== null) clearInterval(pruneTimer);
      await writer.idle();
      await store.close();
    },
  };
}
