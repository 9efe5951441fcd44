/**
 * Reading the Redis store's delivery stream, on a real redis-server: names that follow changes made by
 * another instance, and pages read in several batches that stay one exact snapshot when retention deletes
 * between the batches.
 */
import { describe, expect, test } from "bun:test";
import { connectRedis, type Redis } from "../../src/cluster/redis.ts";
import { openRedisStore } from "../../src/cluster/relay-store.ts";
import { streamCursors } from "../../src/relay/cursor.ts";
import type { DeliveryPage } from "../../src/relay/store.ts";
import { suiteRedis } from "../helpers/cluster.ts";
import { newDelivery as delivery } from "../helpers/deliveries.ts";
import { redisAvailable, type TestRedis } from "../helpers/redis.ts";

const text = (deliveries: ReadonlyArray<{ body: Uint8Array }>) =>
  deliveries.map((d) => new TextDecoder().decode(d.body));

const positionOf = (id: string | null) => {
  if (id === null) throw new Error("expected a stored delivery");
  return streamCursors.positionOf(id);
};

/**
 * A store whose connection runs `between` after each MULTI/EXEC it answers, before the reader sees the
 * answer: what another instance does between two batches of one read.
 */
async function openWithHook(redis: TestRedis, keyPrefix: string, between: () => Promise<void>) {
  const connection = await connectRedis({ url: redis.url, log: () => {} });
  const hooked: Redis = {
    ...connection,
    async send(command, args) {
      const reply = await connection.send(command, args);
      if (command === "EXEC") await between();
      return reply;
    },
  };
  const store = await openRedisStore(hooked, { keyPrefix, log: () => {} });
  return { store, connection };
}

async function openPlain(redis: TestRedis, keyPrefix: string) {
  const connection = await connectRedis({ url: redis.url, log: () => {} });
  return { store: await openRedisStore(connection, { keyPrefix, log: () => {} }), connection };
}

/** A page is one snapshot: nothing at or before its floor, and every delivery of the range up to its end. */
function expectExact(page: DeliveryPage, kept: readonly number[], after: number) {
  const positions = page.deliveries.map((d) => positionOf(d.id));
  for (const position of positions) expect(position).toBeGreaterThan(page.prunedThrough);
  const last = positions.at(-1) ?? after;
  expect(positions).toEqual(
    kept.filter((p) => p > Math.max(after, page.prunedThrough) && p <= last).slice(0, positions.length),
  );
}

if (redisAvailable) {
  const redis = suiteRedis();

  describe("names", () => {
    test("a bucket deleted and an input renamed by another instance show in the next read", async () => {
      const keyPrefix = `test-${crypto.randomUUID()}:`;
      const reader = await openPlain(redis, keyPrefix);
      const writer = await openPlain(redis, keyPrefix);
      try {
        const gone = await writer.store.createBucket("gone");
        const kept = await writer.store.createBucket("kept");
        const inputId = kept.inputs[0]?.id ?? "";
        await writer.store.appendDeliveries([
          { ...delivery(gone.id, "gone"), inputId: gone.inputs[0]?.id ?? "" },
          { ...delivery(kept.id, "kept"), inputId },
        ]);
        const read = { bucketIds: null, afterPosition: 0, maxRows: 10, maxBytes: 1 << 20 };
        const { lastPosition } = await reader.store.deliveryPosition();
        const first = await reader.store.readDeliveries({ ...read, throughPosition: lastPosition });
        expect(first.deliveries.map((d) => [d.bucketName, d.inputName])).toEqual([
          ["gone", "Default public endpoint"],
          ["kept", "Default public endpoint"],
        ]);
        // Changed on the writer only: the reader is told nothing but the version counter.
        await writer.store.deleteBucket(gone.id);
        await writer.store.updateInput(inputId, { name: "renamed" });
        const again = await reader.store.readDeliveries({ ...read, throughPosition: lastPosition });
        expect(again.deliveries.map((d) => [d.bucketName, d.inputName])).toEqual([["kept", "renamed"]]);
        const live = await reader.store.waitForDeliveries(0, 0, 10);
        expect(live.map((d) => [d.bucketName, d.inputName])).toEqual([["kept", "renamed"]]);
      } finally {
        for (const { store, connection } of [reader, writer]) {
          await store.close();
          connection.close();
        }
      }
    });
  });

  describe("a page read in several batches while retention deletes", () => {
    /**
     * Appends deliveries of 60 KiB to a quiet and a busy bucket, then reads a 1 MiB page (its first batch
     * covers 16 entries) with retention keeping only the newest `keepNewest` after the first batch.
     */
    const run = async (options: {
      quietFirst: number;
      busy: number;
      quietAfter: number;
      keepNewest: number;
      read: "quiet" | "all";
    }) => {
      const keyPrefix = `test-${crypto.randomUUID()}:`;
      let pruned = false;
      const writer = await openPlain(redis, keyPrefix);
      const reader = await openWithHook(redis, keyPrefix, async () => {
        if (pruned) return;
        pruned = true;
        await writer.store.pruneDeliveries({ receivedBefore: null, keepNewest: options.keepNewest }, 10_000);
      });
      try {
        const quiet = await writer.store.createBucket("quiet");
        const busy = await writer.store.createBucket("busy");
        const body = "x".repeat(60 * 1024);
        const append = async (bucketId: string, count: number) =>
          (
            await writer.store.appendDeliveries(Array.from({ length: count }, () => delivery(bucketId, body)))
          ).map((r) => positionOf(r.id));
        const quietPositions = [...(await append(quiet.id, options.quietFirst))];
        const busyPositions = await append(busy.id, options.busy);
        quietPositions.push(...(await append(quiet.id, options.quietAfter)));
        const { lastPosition } = await writer.store.deliveryPosition();
        const page = await reader.store.readDeliveries({
          bucketIds: options.read === "quiet" ? [quiet.id] : null,
          afterPosition: 0,
          throughPosition: lastPosition,
          maxRows: 256,
          maxBytes: 1 << 20,
        });
        expect(pruned).toBe(true);
        const kept =
          options.read === "quiet"
            ? quietPositions
            : [...quietPositions, ...busyPositions].sort((a, b) => a - b);
        return { page, kept };
      } finally {
        for (const { store, connection } of [reader, writer]) {
          await store.close();
          connection.close();
        }
      }
    };

    test("rows read before the floor rose: the page ends there, with the floor it was read with", async () => {
      const { page, kept } = await run({
        quietFirst: 0,
        busy: 60,
        quietAfter: 0,
        keepNewest: 30,
        read: "all",
      });
      expect(page.prunedThrough).toBe(0);
      expect(page.deliveries.length).toBeGreaterThan(0);
      expect(page.deliveries.length).toBeLessThan(30);
      expectExact(page, kept, 0);
    });

    test("the same for one bucket's read: its rows found before the floor rose end the page", async () => {
      const { page, kept } = await run({
        quietFirst: 5,
        busy: 60,
        quietAfter: 5,
        keepNewest: 3,
        read: "quiet",
      });
      // The first batch found the first five; retention then took everything but the last three.
      expect(page.prunedThrough).toBe(0);
      expect(text(page.deliveries)).toHaveLength(5);
      expectExact(page, kept, 0);
    });

    test("a quiet bucket behind a long scan: whatever retention took before the scan reached it is reported", async () => {
      const { page, kept } = await run({
        quietFirst: 0,
        busy: 60,
        quietAfter: 5,
        keepNewest: 3,
        read: "quiet",
      });
      // The first batch found nothing; retention took the busy entries and two of the quiet ones.
      expect(page.prunedThrough).toBe(kept[1] as number);
      expect(page.deliveries.map((d) => positionOf(d.id))).toEqual(kept.slice(2));
      expectExact(page, kept, 0);
    });
  });
}
