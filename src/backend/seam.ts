/**
 * The backend seam: where the server's durable, shared state lives. Embedded (embedded.ts): SQLite and this
 * process's journal, nothing outside the process. Cluster (src/cluster/backend.ts): one Redis shared by every
 * instance. The server and the CLI open one through src/open-backend.ts and see only this interface, so the
 * mode is decided in one place and both get the same stores with the same limits.
 */
import type { PublishFn } from "../logs/log-hub.ts";
import type { LogPipeline } from "../logs/pipeline.ts";
import type { DeliverySource } from "../relay/delivery-source.ts";
import type { RelayStore } from "../relay/store.ts";

export type BackendLog = (level: "info" | "warn" | "error", message: string) => void;

export interface Backend {
  /** Buckets, tokens and deliveries. The backend owns it: `close()` closes it. */
  readonly store: RelayStore;
  /** What the relay's live fan-out follows. */
  readonly deliveries: DeliverySource;
  /**
   * How long a log or relay cursor ahead of this instance is waited for: where several instances follow one
   * stream, the one that gave out the cursor may simply have read it a little sooner. 0 when embedded.
   */
  readonly cursorAheadWaitMs: number;
  /**
   * Builds the log side on this backend, publishing through `publish`; only a server calls it (it opens the
   * journal in DATA_DIR), once.
   */
  openLogs(publish: PublishFn): Promise<LogPipeline>;
  readonly health: BackendHealth;
  /**
   * Cluster mode: carries response-passthrough answers to the instance holding the sender's request (an agent
   * may answer on any instance). Absent when embedded: the answer always arrives where the sender waits.
   */
  readonly answers?: AnswerChannel;
  /**
   * Closes the store and whatever connection the backend opened. Call last: after the relay and the log
   * pipeline closed.
   */
  close(): Promise<void>;
}

export interface AnswerChannel {
  publish(payload: string): void;
  /** Delivers every payload published on any instance; resolves to the unsubscribe. */
  subscribe(onPayload: (payload: string) => void): Promise<() => void>;
}

/** What the backend adds to `/health`, `/readyz` and `/metrics`; every member is absent when embedded. */
export interface BackendHealth {
  /** Whether the shared Redis answers now. */
  redisUp?: () => boolean;
  /** The `cluster` section of `/health`. */
  report?: () => { instance: string; redis: "up" | "down"; logs: LogClusterStats | null };
  /** The log side's cluster state (null before the log side is open). */
  logs?: () => LogClusterStats | null;
}

/** Cluster mode's log-side state, for `/health` and `/metrics`. */
export interface LogClusterStats {
  instanceId: string;
  /** Whether this instance's last Redis command got through. */
  redisUp: boolean;
  /** Whether this instance holds the writer lease and follows the log directory. */
  writer: boolean;
  /** Instance id of the lease holder as last seen, or null when no instance writes. */
  leaseHolder: string | null;
  /** The shared epoch this instance's journal follows. */
  epoch: string;
  /** Seq of the newest entry in this instance's journal. */
  mirroredSeq: number;
  /** Seq of the newest entry in the shared stream, as last seen. */
  streamSeq: number;
  /** streamSeq − mirroredSeq: entries the stream has that this instance has not streamed yet. */
  mirrorLag: number;
  /** Entries this instance appended as writer. */
  entriesWritten: number;
  writerTermsStarted: number;
  /** Terms as writer that ended by a failure (Redis away, lease lost). */
  writerTermsLost: number;
  /** Relayed entries waiting for Redis. */
  relayQueued: number;
  relayDropped: number;
  /** Times this journal restarted to follow the stream (another epoch, trimmed past its end). */
  journalResets: number;
  malformedEntries: number;
}
