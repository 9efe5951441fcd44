/**
 * From a commit to the sockets: the group-commit writer stores each delivery, the delivery source hands it
 * on in store order (this process's commits, or the shared stream), and the fan-out publishes it to its
 * bucket's topic and the all-buckets topic, for WebSockets and local subscribers (event-streams) alike.
 */
import type { LogEntry } from "../logs/entry.ts";
import type { CursorCodec } from "./cursor.ts";
import { deliveryLogEntry } from "./delivery-log.ts";
import type { DeliverySource } from "./delivery-source.ts";
import { createFanout, type Fanout } from "./fanout.ts";
import { metaOf } from "./feed.ts";
import { createLocalTopics, type LocalTopics } from "./local-topics.ts";
import { webhookMessageWriter } from "./message.ts";
import { annotateDelivery } from "./outputs/annotate.ts";
import type { OutputDirectory } from "./outputs/directory.ts";
import { ALL_BUCKETS_TOPIC, bucketTopic } from "./protocol.ts";
import { createRecentDeliveries, type RecentDeliveries } from "./recent-deliveries.ts";
import type { DeliveryStore, ReplayedDelivery } from "./store.ts";
import { createDeliveryWriter, type DeliveryWriter } from "./writer.ts";

/** What the writer carries along with each delivery, for the relayed message and the log entry. */
export interface DeliveryContext {
  bucketName: string;
  inputName: string;
}

export interface LiveOptions {
  store: DeliveryStore;
  deliveries: DeliverySource;
  cursors: CursorCodec;
  /** The newest position stored before this process started: everything up to it counts as published. */
  lastPosition: number;
  publish: (topic: string, payload: string) => void;
  subscriberCount: (topic: string) => number;
  lagBytes: number;
  lagTotalBytes: number;
  /** What the recent deliveries kept for catching-up sockets may hold (recent-deliveries.ts). */
  recentBytes: number;
  logs: { publish(entry: LogEntry): void };
  /** The buckets' outputs and inputs' passthrough, as messages carry them. */
  outputs: OutputDirectory;
  /** After each commit (the output dispatcher's wake-up). */
  afterCommit?: (delivery: ReplayedDelivery) => void;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

export interface LiveDeliveries {
  writer: DeliveryWriter<DeliveryContext>;
  fanout: Fanout;
  /** What the fan-out published last, for sockets catching up from a recent position. */
  recent: RecentDeliveries;
  localTopics: LocalTopics;
  /** Stops publishing; a read of the shared stream under way ends when the backend closes. */
  stop(): void;
}

export function startLiveDeliveries(options: LiveOptions): LiveDeliveries {
  const { cursors, deliveries } = options;
  const localTopics = createLocalTopics();
  const fanout = createFanout({
    publish: (topic, payload) => {
      options.publish(topic, payload);
      localTopics.publish(topic, payload);
    },
    subscriberCount: (topic) => options.subscriberCount(topic) + localTopics.count(topic),
    lagBytes: options.lagBytes,
    lagTotalBytes: options.lagTotalBytes,
    startId: options.lastPosition,
  });
  const recent = createRecentDeliveries({
    startPosition: options.lastPosition,
    namesOf: (bucketId, inputId) => options.outputs.namesOf(bucketId, inputId),
    maxBytes: options.recentBytes,
  });

  /**
   * One message per output of the bucket (one with empty output fields when it has none), all at the
   * delivery's position in one synchronous step. Each is serialised once, however many sockets receive it,
   * and only when someone listens; the body is escaped once for all of them.
   */
  const following = deliveries.follow(options.lastPosition, cursors, (delivery, position) => {
    // Held before it is published, so the window always reaches `fanout.published()`.
    recent.add(delivery, position);
    const annotated = annotateDelivery(options.outputs, delivery, Date.now());
    const topics = [bucketTopic(delivery.bucketId), ALL_BUCKETS_TOPIC];
    const cursor = cursors.format(position);
    const targets = annotated.outputs.length === 0 ? [null] : annotated.outputs;
    const message = webhookMessageWriter(metaOf(annotated), annotated, cursor);
    for (const output of targets) fanout.publish(position, topics, () => message(output));
  });

  const writer = createDeliveryWriter<DeliveryContext>({
    store: options.store,
    log: options.log,
    onCommitted({ id, delivery, context }) {
      const stored: ReplayedDelivery = { ...delivery, id, ...context };
      deliveries.committed(stored, cursors.positionOf(id));
      options.afterCommit?.(stored);
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

  return { writer, fanout, recent, localTopics, stop: () => void following.stop() };
}
