/**
 * The positioned-source seam, one suite for both adapters: the log journal and the relay's delivery store.
 * Whatever the storage, a reader sees every item after a position once and in order, says how far it read,
 * and where retention left off.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openJournal } from "../../src/logs/journal.ts";
import { createJournalSource } from "../../src/logs/journal-source.ts";
import { createFanout } from "../../src/relay/fanout.ts";
import { createStoreSource } from "../../src/relay/feed.ts";
import { openSqliteStore } from "../../src/relay/sqlite-store.ts";
import type { PositionedSource } from "../../src/stream/subscriber.ts";
import { newDelivery } from "../helpers/deliveries.ts";

const dirs: string[] = [];
/** Stores and journals opened by a test: closed after it, not left to the garbage collector. */
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-source-"));
  dirs.push(dir);
  return dir;
};

interface Harness {
  source: PositionedSource;
  /** Appends items (each payload names its number) and publishes them. */
  append(count: number): Promise<void>;
  /** The payload's number, whatever the frame around it. */
  numberOf(payload: string): number;
}

const implementations: Array<[string, () => Promise<Harness>]> = [
  [
    "the log journal",
    async () => {
      const journal = openJournal({
        dir: tempDir(),
        segmentBytes: 1 << 20,
        maxBytes: 1 << 30,
        log: () => {},
      });
      let next = 0;
      return {
        source: createJournalSource(journal, () => true),
        async append(count) {
          for (let i = 0; i < count; i++) journal.append(JSON.stringify({ message: `item ${next++}` }));
          journal.flush();
        },
        numberOf: (payload) => Number(/item (\d+)/.exec(payload)?.[1]),
      };
    },
  ],
  [
    "the relay's delivery store",
    async () => {
      const store = openSqliteStore(join(tempDir(), "relay.db"));
      closers.push(() => store.close());
      const bucket = await store.createBucket("b");
      const { cursors, lastPosition } = await store.deliveryPosition();
      const fanout = createFanout({
        publish: () => {},
        subscriberCount: () => 0,
        lagBytes: 1 << 20,
        startId: lastPosition,
      });
      let next = 0;
      return {
        source: createStoreSource({ store, fanout, cursors }, [bucket.id]),
        async append(count) {
          const batch = Array.from({ length: count }, () => newDelivery(bucket.id, `item ${next++}`));
          for (const result of await store.appendDeliveries(batch))
            if (!result.duplicate) fanout.publish(cursors.positionOf(result.id), [], () => "");
        },
        numberOf: (payload) => Number(/item (\d+)/.exec(payload)?.[1]),
      };
    },
  ],
];

/** Every item after `after`, read in pages of at most `maxBytes`; `largestPage`: the most items one page held. */
async function readAll(
  source: PositionedSource,
  after: number,
  maxBytes = 256 * 1024,
): Promise<{ positions: number[]; payloads: string[]; largestPage: number }> {
  const reader = source.reader();
  const positions: number[] = [];
  const payloads: string[] = [];
  let largestPage = 0;
  let at = after;
  try {
    for (let step = 0; step < 2000; step++) {
      const page = await reader.next(at, source.published(), maxBytes);
      largestPage = Math.max(largestPage, page.items.length);
      for (const item of page.items)
        if ("payload" in item) {
          positions.push(item.position);
          payloads.push(item.payload);
        }
      if (page.items.length === 0 && page.readThrough >= source.published()) break;
      at = Math.max(at, page.readThrough);
    }
  } finally {
    reader.close();
  }
  return { positions, payloads, largestPage };
}

for (const [name, open] of implementations) {
  describe(`positioned source: ${name}`, () => {
    test("a reader from the start sees every item once, in order, up to what is published", async () => {
      const h = await open();
      const start = h.source.published();
      await h.append(600);
      const { positions, payloads } = await readAll(h.source, start);
      expect(payloads.map(h.numberOf)).toEqual(Array.from({ length: 600 }, (_, i) => i));
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      expect(positions.at(-1)).toBe(h.source.published());
    });

    test("a page stops at the bytes asked for, with at least one item, and the next continues after it", async () => {
      const h = await open();
      const start = h.source.published();
      await h.append(600);
      const whole = await readAll(h.source, start);
      const small = await readAll(h.source, start, 1);
      expect(whole.largestPage).toBeGreaterThan(1);
      expect(small.largestPage).toBe(1);
      expect(small.payloads.map(h.numberOf)).toEqual(Array.from({ length: 600 }, (_, i) => i));
    });

    test("a reader from the middle continues right after that item", async () => {
      const h = await open();
      const start = h.source.published();
      await h.append(10);
      const all = await readAll(h.source, start);
      const rest = await readAll(h.source, all.positions[3] as number);
      expect(rest.payloads.map(h.numberOf)).toEqual([4, 5, 6, 7, 8, 9]);
    });

    test("a reader at the end reads nothing and says it covered everything", async () => {
      const h = await open();
      await h.append(3);
      const reader = h.source.reader();
      const page = await reader.next(h.source.published(), h.source.published(), 256 * 1024);
      reader.close();
      expect(page.items).toEqual([]);
      expect(page.readThrough).toBeGreaterThanOrEqual(h.source.published());
      expect(page.prunedThrough).toBeLessThanOrEqual(h.source.published());
    });

    test("cursors of positions are distinct and ordered like the positions", async () => {
      const h = await open();
      const start = h.source.published();
      await h.append(3);
      const { positions } = await readAll(h.source, start);
      const cursors = positions.map((p) => h.source.cursorOf(p));
      expect(new Set(cursors).size).toBe(3);
    });
  });
}
