/**
 * The relay's storage seams. Three narrow interfaces instead of one wide one, so another backend (Redis)
 * implements exactly what the relay uses. Every method is async for that reason, although the SQLite store
 * answers synchronously.
 */

import type { CursorCodec } from "./cursor.ts";
import type { OutputRef } from "./message.ts";

export interface Bucket {
  id: string;
  name: string;
  description: string;
  createdAt: number;
}

/** How an input answers the sender of a webhook. */
export interface InputResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
}

export interface Input {
  id: string;
  bucketId: string;
  name: string;
  response: InputResponse;
  /** Whether a GitHub secret is set; the secret itself never leaves the store through listings. */
  hasSecret: boolean;
  /**
   * Answer the sender with the forwarding agent's response when it arrives within `passthroughTimeoutMs`,
   * else with `response` (see passthrough.ts).
   */
  passthrough: boolean;
  passthroughTimeoutMs: number;
  createdAt: number;
}

/** Who sends a bucket's webhooks to an output's destination. */
export type OutputDeliverer = "hookstream" | "agent";

/** A named destination of a bucket's webhooks (see outputs/). */
export interface Output {
  id: string;
  bucketId: string;
  /** Unique within the bucket. */
  name: string;
  /** An http(s) URL. */
  destination: string;
  deliveredBy: OutputDeliverer;
  createdAt: number;
}

/**
 * A new output as a store keeps it. Its id sorts after every earlier one made by this process (UUIDv7), so
 * outputs listed by creation time then id keep their creation order when two share a millisecond.
 */
export function newOutput(bucketId: string, output: NewOutput): Output {
  return { id: Bun.randomUUIDv7(), bucketId, ...output, createdAt: Date.now() };
}

export interface NewOutput {
  name: string;
  destination: string;
  deliveredBy: OutputDeliverer;
}

export interface BucketWithInputs extends Bucket {
  inputs: Input[];
  /** In creation order. */
  outputs: Output[];
}

/** Everything the input endpoint needs for one request: the input, its bucket, and the secret to verify. */
export interface InputRoute {
  input: Input;
  bucket: Bucket;
  githubSecret: string | null;
}

export interface InputPatch {
  name?: string;
  response?: InputResponse;
  /** A string sets the secret, null removes it, undefined leaves it. */
  githubSecret?: string | null;
  passthrough?: boolean;
  passthroughTimeoutMs?: number;
}

export interface BucketStore {
  /** Creates the bucket and its first input. Throws `NameTakenError` when the name exists. */
  createBucket(name: string, description?: string): Promise<BucketWithInputs>;
  listBuckets(): Promise<BucketWithInputs[]>;
  /** By id or by name. */
  findBucket(idOrName: string): Promise<BucketWithInputs | null>;
  /** Deletes the bucket with its inputs and deliveries; false when it did not exist. */
  deleteBucket(id: string): Promise<boolean>;
  addInput(bucketId: string, name: string): Promise<Input | null>;
  updateInput(inputId: string, patch: InputPatch): Promise<Input | null>;
  /**
   * May answer from a cache: another process's changes to inputs are seen once `externalChanges()` has been
   * called after they committed.
   */
  resolveInput(inputId: string): Promise<InputRoute | null>;
}

export interface Token {
  id: number;
  key: string;
  description: string;
  admin: boolean;
  /** null: every bucket, present and future. Otherwise the ids of the buckets it may read. */
  bucketIds: string[] | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface NewToken {
  key: string;
  /** SHA-256 of the secret; the secret itself is never stored. */
  secretHash: Uint8Array;
  description: string;
  admin: boolean;
  bucketIds: string[] | null;
}

export interface TokenStore {
  createToken(token: NewToken): Promise<Token>;
  listTokens(): Promise<Token[]>;
  /** The token and its secret hash, revoked or not, for authentication. */
  findToken(key: string): Promise<{ token: Token; secretHash: Uint8Array } | null>;
  /** Marks it revoked; false when no such active token exists. */
  revokeToken(key: string): Promise<boolean>;
  /** Of these token ids, the ones that are no longer active (revoked or deleted). */
  inactiveTokens(ids: readonly number[]): Promise<number[]>;
  countAdminTokens(): Promise<number>;
}

export interface NewDelivery {
  bucketId: string;
  inputId: string;
  /** `X-GitHub-Delivery`: unique per bucket; a second delivery with the same value is not stored again. */
  githubDelivery: string | null;
  method: string;
  /** Canonical header name → values, as sent on the socket. */
  headers: Record<string, string[]>;
  /** Raw query string without `?`. */
  query: string;
  body: Uint8Array;
  sourceAddress: string;
  receivedAt: number;
  /** Set on a stored delivery re-sent by an admin (replay.ts): the id of the delivery it copies. */
  replayOf?: string;
}

/** The new delivery's id, or `duplicate` when its `githubDelivery` was stored before in that bucket. */
export type AppendResult = { id: string; duplicate: false } | { id: null; duplicate: true };

export interface StoredDelivery extends NewDelivery {
  /** Unique in the store; its position in store order is `cursors.positionOf(id)` (see cursor.ts). */
  id: string;
}

/** A stored delivery with the names a relayed message carries (as they are now). */
export interface ReplayedDelivery extends StoredDelivery {
  bucketName: string;
  inputName: string;
  /** Added by the relay on its way to a socket, never by a store: see message.ts. */
  outputs?: readonly OutputRef[];
  passthroughMs?: number;
}

export interface DeliveryRead {
  /** Buckets to read; null for every bucket. */
  bucketIds: readonly string[] | null;
  /** Deliveries with a position (see cursor.ts) greater than this... */
  afterPosition: number;
  /** ...and at most this. */
  throughPosition: number;
  maxRows: number;
  /** Stops once the bodies read reach this many bytes (but always returns at least one delivery). */
  maxBytes: number;
}

export interface DeliveryPage {
  /** In store order; empty when these buckets have nothing in the range. */
  deliveries: ReplayedDelivery[];
  /**
   * Read in the same snapshot as `deliveries`: the highest position of these buckets deleted by retention
   * (0: none).
   * Retention deletes in store order, so a reader positioned before it has missed deliveries.
   */
  prunedThrough: number;
}

/** Which deliveries retention deletes, oldest first (store order): either rule may be off (null). */
export interface RetentionPolicy {
  /** Deliveries received before this time (ms). */
  receivedBefore: number | null;
  /** Everything but the newest this many deliveries, over all buckets. */
  keepNewest: number | null;
}

export class StorageFullError extends Error {
  constructor() {
    super("Storage full: the delivery was not stored");
  }
}

export interface DeliveryStore {
  /**
   * Stores the batch in one transaction and resolves once it is durable; one result per delivery, in order.
   * Batches commit in call order (later ids for later calls), even while earlier ones await durability.
   * Rejects with `StorageFullError` when the disk or the database size cap is full; nothing of the batch is
   * stored then.
   */
  appendDeliveries(batch: readonly NewDelivery[]): Promise<AppendResult[]>;
  /** Deliveries of one bucket after the cursor id, in store order. */
  listDeliveries(bucketId: string, afterId: string | null, limit: number): Promise<StoredDelivery[]>;
  /** The newest `limit` deliveries of a bucket, newest first (for people looking at recent traffic). */
  recentDeliveries(bucketId: string, limit: number): Promise<StoredDelivery[]>;
  /** The delivery of a bucket whose `X-GitHub-Delivery` is `githubDelivery` (kept once per bucket), if stored. */
  deliveryByGithubId(bucketId: string, githubDelivery: string): Promise<StoredDelivery | null>;
  /** A page of deliveries for a reader that resumes or catches up, with what retention took from them. */
  readDeliveries(read: DeliveryRead): Promise<DeliveryPage>;
  /**
   * The `prunedThrough` a page of these buckets (null: every bucket) would report now, read alone: for a
   * reader that holds the deliveries themselves in memory (recent-deliveries.ts).
   */
  retentionFloor(bucketIds: readonly string[] | null): Promise<number>;
  /** How this store's cursors read, and the position of the newest delivery it ever assigned (0: none). */
  deliveryPosition(): Promise<{ cursors: CursorCodec; lastPosition: number }>;
  /** Deletes at most `limit` deliveries by the policy, oldest first; returns how many. */
  pruneDeliveries(policy: RetentionPolicy, limit: number): Promise<number>;
}

/** Where hookstream's own delivery of one webhook to one output stands. */
export type AttemptState = "pending" | "delivered" | "failed" | "cancelled";

/**
 * One webhook to one output delivered by hookstream. Created pending, in the same transaction as the
 * delivery, for every such output its bucket has then; so an attempt is durable exactly when its delivery is.
 */
export interface OutputAttempt {
  deliveryId: string;
  outputId: string;
  /** As the output was named when the webhook arrived. */
  outputName: string;
  destination: string;
  state: AttemptState;
  /** Requests made so far. */
  attempts: number;
  /** When a pending attempt is due next (ms); null once it is settled. */
  nextAt: number | null;
  /** The destination's last answer, or null when it never answered. */
  status: number | null;
  /** Why the last request failed (connection error, timeout, 5xx). */
  error: string | null;
  /** The start of the last answer's body (bounded by the dispatcher). */
  responseBody: string;
  updatedAt: number;
}

/** What a claim records for an attempt whose output was deleted since its webhook arrived: settled, not sent. */
export function cancelledAttempt(attempt: OutputAttempt, now: number): OutputAttempt {
  return { ...attempt, state: "cancelled", nextAt: null, error: "output deleted", updatedAt: now };
}

/** A due attempt, leased to the caller, with its delivery. */
export interface ClaimedAttempt {
  attempt: OutputAttempt;
  delivery: StoredDelivery;
}

export class OutputNameTakenError extends Error {
  constructor(readonly outputName: string) {
    super(`this bucket already has an output named "${outputName}"`);
  }
}

export interface OutputStore {
  /** Null when the bucket does not exist; throws `OutputNameTakenError` when the bucket has that name. */
  createOutput(bucketId: string, output: NewOutput): Promise<Output | null>;
  /** By id or name; false when the bucket has no such output. Its pending attempts are cancelled when claimed. */
  deleteOutput(bucketId: string, idOrName: string): Promise<boolean>;
  /**
   * Up to `limit` pending attempts due at `now`, oldest due first, each leased until `now + leaseMs` (a
   * process that dies holding one leaves it due again then). Attempts whose delivery or output is gone are
   * settled as cancelled instead of returned.
   */
  claimOutputAttempts(now: number, leaseMs: number, limit: number): Promise<ClaimedAttempt[]>;
  /** Stores the attempt's new state; ignored when its delivery is gone. */
  recordOutputAttempt(attempt: OutputAttempt): Promise<void>;
  /** The attempts of these deliveries, in no particular order. */
  outputAttempts(deliveryIds: readonly string[]): Promise<OutputAttempt[]>;
  /** When the earliest pending attempt is due (a leased one: when its lease runs out); null when none is. */
  nextOutputAttemptAt(): Promise<number | null>;
}

/** Who changed the store: this store object, or another process (the CLI, another instance). */
export type ChangeOrigin = "local" | "external";

export interface ChangeWatch {
  /** Whether other processes' changes are reported now; while not, the caller polls `externalChanges()`. */
  reliable(): boolean;
  stop(): void;
}

export interface RelayStore extends BucketStore, TokenStore, DeliveryStore, OutputStore {
  /**
   * Changes whenever another process (the CLI) committed to the store since the last call, so the server
   * can re-check open sockets' tokens; also makes those commits visible to `resolveInput`.
   */
  externalChanges(): Promise<number>;
  /**
   * Tells `listener`, without polling, that tokens or buckets may have changed: "local" right after this store
   * revoked a token or deleted a bucket, "external" soon after another process committed (then
   * `externalChanges()` says whether anything changed).
   */
  watchChanges(listener: (origin: ChangeOrigin) => void): ChangeWatch;
  close(): Promise<void>;
}

export class NameTakenError extends Error {
  constructor(readonly bucketName: string) {
    super(`a bucket named "${bucketName}" already exists`);
  }
}

export const DEFAULT_INPUT_NAME = "Default public endpoint";

/** GitHub gives up on a webhook after 10 s: a passthrough answer later than that reaches nobody. */
export const DEFAULT_PASSTHROUGH_TIMEOUT_MS = 10_000;

export const DEFAULT_INPUT_RESPONSE: InputResponse = {
  status: 200,
  body: '{"status":"ok"}',
  headers: { "Content-Type": "application/json" },
};
