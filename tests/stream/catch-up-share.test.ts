/**
 * The catch-up's shared total: sockets of one stream that catch up at once hold together at most
 * `catchUpTotalBytes`, queued and in the pages they are sending, plus one item each for both. The
 * subscribers here are the stream core's own, on peers that count what is queued and drain as a slow
 * client reads, and a source that hands out numbered items of a fixed size.
 */
import { describe, expect, test } from "bun:test";
import {
  type CatchUpLimits,
  type CatchUpStats,
  catchUpShareBytes,
  createSubscriber,
  type PositionedSource,
  type StreamPage,
  type Subscriber,
} from "../../src/stream/subscriber.ts";
import type { Peer } from "../../src/transport/peer.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("a catching-up socket's share", () => {
  /** A 256 KiB mark, and the total (undefined: none). */
  const limits = (total: number | undefined): CatchUpLimits => ({
    catchUpHighWaterBytes: 256 * KiB,
    stallTimeoutMs: 1,
    ...(total === undefined ? {} : { catchUpTotalBytes: total }),
  });
  // [case, total, sockets catching up, share]
  const cases: Array<[string, number | undefined, number, number]> = [
    ["no total: the high-water mark", undefined, 10_000, 256 * KiB],
    ["alone, under the total", 128 * MiB, 1, 256 * KiB],
    ["256 sockets still get the full mark", 128 * MiB, 256, 256 * KiB],
    ["past that, an equal share of half the total", 128 * MiB, 1024, 64 * KiB],
    ["a total below one socket's mark", 64 * KiB, 1, 32 * KiB],
    ["no socket counted yet: as one", 64 * KiB, 0, 32 * KiB],
  ];
  for (const [name, total, catchingUp, expected] of cases) {
    test(name, () => {
      expect(catchUpShareBytes(limits(total), catchingUp)).toBe(expected);
    });
  }
});

const ITEM_BYTES = 1000;

/** A slow client's socket: what is sent is queued until `read` takes it. */
function countingPeer() {
  let buffered = 0;
  const received: number[] = [];
  const peer: Peer = {
    remoteAddress: "127.0.0.1",
    send(data) {
      buffered += data.length;
      const seq = /"n":(\d+)/.exec(String(data))?.[1];
      if (seq !== undefined) received.push(Number(seq));
      return -1;
    },
    subscribe() {},
    unsubscribe() {},
    close() {
      throw new Error("no socket here is closed");
    },
    getBufferedAmount: () => buffered,
    cork: (batch) => batch(),
  };
  return {
    peer,
    received,
    buffered: () => buffered,
    read(bytes: number) {
      buffered = Math.max(0, buffered - bytes);
    },
  };
}

/** Items 1…count of ITEM_BYTES each; every reader's page in hand is counted until its next read. */
function numberedSource(count: number) {
  const payload = (n: number) => {
    const head = `{"n":${n},"pad":"`;
    return `${head}${"x".repeat(ITEM_BYTES - head.length - 2)}"}`;
  };
  const pagesHeld = new Set<{ bytes: number }>();
  const asked: number[] = [];
  const source: PositionedSource = {
    published: () => count,
    cursorOf: (position) => String(position),
    positionOf: (cursor) => Number(cursor),
    origin: () => 0,
    reader() {
      const held = { bytes: 0 };
      pagesHeld.add(held);
      return {
        async next(after, through, maxBytes): Promise<StreamPage> {
          asked.push(maxBytes);
          const items: StreamPage["items"] = [];
          let bytes = 0;
          for (let n = after + 1; n <= through && (items.length === 0 || bytes < maxBytes); n++) {
            items.push({ position: n, payload: payload(n) });
            bytes += ITEM_BYTES;
          }
          held.bytes = bytes;
          const readThrough = items.length === 0 ? through : after + items.length;
          return { items, readThrough, prunedThrough: 0 };
        },
        close() {
          pagesHeld.delete(held);
        },
      };
    },
  };
  const inPages = () => [...pagesHeld].reduce((sum, page) => sum + page.bytes, 0);
  return { source, asked, inPages };
}

const protocol = {
  live: '{"live":true}',
  gap: () => '{"gap":true}',
  pruned: "pruned",
  behindRetention: "behind",
  missing: "missing",
  unknownCursor: "unknown",
};

async function catchUpTogether(sockets: number, limits: CatchUpLimits, items: number) {
  const { source, asked, inPages } = numberedSource(items);
  const stats: CatchUpStats = { catchingUp: 0, closedTooSlow: 0, closedBehindRetention: 0, gapsReported: 0 };
  const clients = Array.from({ length: sockets }, () => {
    const client = countingPeer();
    let live = false;
    const subscriber: Subscriber = createSubscriber({
      peer: client.peer,
      source,
      limits,
      stats,
      protocol,
      joinLive: () => {
        live = true;
      },
      reached: async () => true,
      onFailure: (error) => {
        throw error;
      },
    });
    return { client, subscriber, isLive: () => live };
  });
  // All start in one step, as a lag wave takes many sockets off the live topics at once.
  const done = Promise.all(clients.map(({ subscriber }) => subscriber.catchUp(0, "notify")));
  let held = 0;
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  while (!finished) {
    held = Math.max(held, inPages() + clients.reduce((sum, { client }) => sum + client.buffered(), 0));
    await Bun.sleep(1);
    for (const { client, subscriber } of clients) {
      client.read(3 * ITEM_BYTES);
      subscriber.drained();
    }
  }
  await done;
  return { clients, asked, held };
}

describe("sockets catching up at once", () => {
  test("hold together at most the total, queued and in pages, plus one item each for both", async () => {
    const sockets = 16;
    const total = 256 * KiB;
    const { clients, asked, held } = await catchUpTogether(
      sockets,
      { catchUpHighWaterBytes: 64 * KiB, catchUpTotalBytes: total, stallTimeoutMs: 10_000 },
      300,
    );
    expect(held).toBeGreaterThan(total / 2);
    expect(held).toBeLessThanOrEqual(total + 2 * sockets * ITEM_BYTES);
    expect(Math.max(...asked)).toBe(total / (2 * sockets));
    for (const { client, isLive } of clients) {
      expect(client.received).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(isLive()).toBe(true);
    }
  });

  test("without a total, each socket keeps its own mark", async () => {
    const { asked, held } = await catchUpTogether(
      16,
      { catchUpHighWaterBytes: 64 * KiB, stallTimeoutMs: 10_000 },
      300,
    );
    expect(Math.min(...asked)).toBe(64 * KiB);
    expect(held).toBeGreaterThan(256 * KiB);
  });
});
