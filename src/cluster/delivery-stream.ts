/**
 * Cluster mode's live source: deliveries accepted by any instance are appended to one shared stream, and
 * every instance follows that stream and publishes what it reads to its own subscribers, in stream order.
 * The instance that accepted a delivery publishes it this way too, so every instance sees one order and
 * `published()` (the fan-out's position) always means "everything up to here was read from the stream".
 *
 * A failed read (Redis restarting) is retried from the same position: nothing is skipped or read twice.
 */
import type { CursorCodec } from "../relay/cursor.ts";
import type { DeliverySource } from "../relay/delivery-source.ts";
import type { ReplayedDelivery } from "../relay/store.ts";
import { StoreUnavailableError } from "../transport/errors.ts";

export interface DeliveryStream {
  /** Deliveries after this position, in order, waiting up to `blockMs` for the first one. */
  waitForDeliveries(afterPosition: number, blockMs: number, maxRows: number): Promise<ReplayedDelivery[]>;
}

export interface StreamFollowerOptions {
  stream: DeliveryStream;
  cursors: CursorCodec;
  fromPosition: number;
  publish(delivery: ReplayedDelivery, position: number): void;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** How long one read waits for new deliveries; bounds how late a stop takes effect. */
  blockMs?: number;
  /** Wait before reading again after a failure. */
  retryMs?: number;
}

export interface StreamFollower {
  position(): number;
  /** Stops after the read under way (close the stream's connection to cut it short). */
  stop(): Promise<void>;
}

/**
 * Deliveries asked for per read while the follow keeps up. A read is published in one step, so this is the
 * burst every socket's queue takes at once: in the cluster bench 256 tipped slow sockets into lag, while 8
 * and 16 left the follow seconds behind (docs/benchmarks.md).
 */
export const READ_ROWS = 32;
/** While reads come back full (the follow is behind), each asks for twice as many, up to this. */
export const READ_ROWS_BEHIND = 256;

/** How many to ask for next: twice as many after a full read, up to the bound; READ_ROWS after one not full. */
export function nextReadRows(asked: number, got: number): number {
  return got >= asked ? Math.min(asked * 2, READ_ROWS_BEHIND) : READ_ROWS;
}

export function followDeliveryStream(options: StreamFollowerOptions): StreamFollower {
  const { stream, cursors, log } = options;
  const blockMs = options.blockMs ?? 5_000;
  const retryMs = options.retryMs ?? 250;
  let position = options.fromPosition;
  let stopped = false;

  const run = async () => {
    let failing = false;
    let rows = READ_ROWS;
    while (!stopped) {
      try {
        const deliveries = await stream.waitForDeliveries(position, blockMs, rows);
        rows = nextReadRows(rows, deliveries.length);
        if (stopped) return;
        if (failing) log("info", "following the shared delivery stream again");
        failing = false;
        for (const delivery of deliveries) {
          const next = cursors.positionOf(delivery.id);
          if (next <= position) continue;
          position = next;
          options.publish(delivery, next);
        }
      } catch (error) {
        if (stopped) return;
        if (!failing)
          log(
            error instanceof StoreUnavailableError ? "warn" : "error",
            `reading the shared delivery stream failed (retrying from ${cursors.format(position)}): ${String(error)}`,
          );
        failing = true;
        await Bun.sleep(retryMs);
      }
    }
  };
  const done = run();

  return {
    position: () => position,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

export interface StreamSource extends DeliverySource {
  /** Stops every follow and resolves once each ended; call after the store closed, which cuts reads short. */
  close(): Promise<void>;
}

/** Cluster mode's delivery source: the shared stream, which carries this instance's commits as well. */
export function createStreamSource(stream: DeliveryStream, log: StreamFollowerOptions["log"]): StreamSource {
  const follows = new Set<StreamFollower>();
  return {
    follow(fromPosition, cursors, publish) {
      const follower = followDeliveryStream({ stream, cursors, fromPosition, publish, log });
      follows.add(follower);
      return follower;
    },
    committed() {},
    async close() {
      await Promise.all([...follows].map((follower) => follower.stop()));
    },
  };
}
