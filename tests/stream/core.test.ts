/** The stream core's pure pieces: cursors, the bounded wait for a position, the one lag rule. */
import { describe, expect, test } from "bun:test";
import { formatCursor, parseCursor } from "../../src/stream/cursor.ts";
import { createLagWatch, type LiveMember } from "../../src/stream/lag.ts";
import { createPositionWaiter } from "../../src/stream/position-waiter.ts";
import { seededRandom } from "../helpers/random.ts";
import { waitFor } from "../helpers/ws.ts";

describe("cursors", () => {
  const cases: Array<[string, string, ReturnType<typeof parseCursor>]> = [
    ["a cursor of this history gives its position", "0a1b2c3d-ff", { kind: "valid", position: 255 }],
    ["a cursor of another epoch is foreign", "ffffffff-1", { kind: "foreign" }],
    [
      "a shape another store writes is foreign when the caller says so",
      "1700000000000-3",
      { kind: "foreign" },
    ],
    ["anything else is malformed", "not-a-cursor", { kind: "malformed" }],
    ["a position past safe integers is malformed", "0a1b2c3d-fffffffffffffff", { kind: "malformed" }],
  ];
  for (const [name, cursor, expected] of cases) {
    test(name, () => {
      expect(parseCursor("0a1b2c3d", cursor, (c) => /^\d{13}-\d+$/.test(c))).toEqual(expected);
    });
  }
  test("format and parse round-trip", () => {
    for (const position of [0, 1, 4095, 2 ** 40, 2 ** 52 - 1])
      expect(parseCursor("0a1b2c3d", formatCursor("0a1b2c3d", position))).toEqual({
        kind: "valid",
        position,
      });
  });
});

describe("waiting for a position", () => {
  test("resolves on the event that reaches it, not on a timer", async () => {
    let at = 3;
    const waiter = createPositionWaiter(() => at);
    const reached = waiter.wait(5, 10_000);
    at = 5;
    const started = performance.now();
    waiter.advance(5);
    expect(await reached).toBe(true);
    expect(performance.now() - started).toBeLessThan(50);
  });

  test("a position already reached resolves at once; one never reached gives up at the bound", async () => {
    const waiter = createPositionWaiter(() => 7);
    expect(await waiter.wait(7, 10_000)).toBe(true);
    const started = performance.now();
    expect(await waiter.wait(8, 30)).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });
});

describe("the one lag rule", () => {
  const member = (buffered: () => number, lagged: LiveMember[]): LiveMember => {
    const self: LiveMember = { bufferedAmount: buffered, onLag: () => lagged.push(self) };
    return self;
  };

  test("a member over the limit is taken off once another quarter of lagBytes was published; the others stay", () => {
    const lagged: LiveMember[] = [];
    const owner: LiveMember[] = [];
    const watch = createLagWatch({ lagBytes: 1000, onLag: (m) => owner.push(m) });
    let slowBuffered = 0;
    const slow = member(() => slowBuffered, lagged);
    const fast = member(() => 0, lagged);
    watch.join(slow);
    watch.join(fast);
    slowBuffered = 5000;
    watch.published(249);
    expect(lagged).toEqual([]);
    watch.published(1);
    expect(lagged).toEqual([slow]);
    expect(owner).toEqual([slow]);
    expect(watch.stats()).toEqual({ live: 1, lagEvents: 1 });
    watch.close();
  });

  test("a trickle is checked after the last publish too", async () => {
    const lagged: LiveMember[] = [];
    const watch = createLagWatch({ lagBytes: 1_000_000, trailingCheckMs: 10 });
    const stalled = member(() => 2_000_000, lagged);
    watch.join(stalled);
    watch.published(10);
    expect(lagged).toEqual([]);
    await waitFor(() => lagged.length > 0, 1000, "the trailing lag check");
    expect(lagged).toEqual([stalled]);
    watch.close();
  });

  test("a trickle to members far under the limit reads no buffer after the last publish", async () => {
    const lagged: LiveMember[] = [];
    const watch = createLagWatch({ lagBytes: 1000, trailingCheckMs: 5 });
    let reads = 0;
    const healthy = member(() => {
      reads++;
      return 100;
    }, lagged);
    watch.join(healthy);
    const readsAtJoin = reads;
    for (let i = 0; i < 5; i++) watch.published(10);
    await Bun.sleep(40);
    expect(reads).toBe(readsAtJoin);
    expect(lagged).toEqual([]);
    watch.close();
  });

  test("a stalled member is taken off before it holds more than a quarter over the limit plus one message", () => {
    // Generated: message sizes from a few bytes to past the limit, members that stall after a while; each
    // stalled member's buffer is everything published since it stalled. Healthy members never leave.
    const random = seededRandom(7);
    for (let run = 0; run < 300; run++) {
      const lagBytes = 1000 + random(100_000);
      const largestMessage = 1 + random(lagBytes * 2);
      const watch = createLagWatch({ lagBytes, trailingCheckMs: 60_000 });
      const lagged: LiveMember[] = [];
      const stalledAfter = random(50);
      let buffered = 0;
      const stalled = member(() => buffered, lagged);
      const healthy = member(() => random(lagBytes + 1), lagged);
      watch.join(stalled);
      watch.join(healthy);
      for (let message = 0; lagged.length === 0 && message < 100_000; message++) {
        const bytes = 1 + random(largestMessage);
        if (message >= stalledAfter) buffered += bytes;
        watch.published(bytes);
        if (lagged.length === 0) continue;
        expect(lagged).toEqual([stalled]);
        expect(buffered).toBeGreaterThan(lagBytes);
        expect(buffered).toBeLessThanOrEqual(lagBytes + lagBytes / 4 + bytes);
      }
      expect(lagged).toEqual([stalled]);
      watch.close();
    }
  });

  test("with a shared total, each member's room is its share of it, and grows back as members leave", () => {
    const lagged: LiveMember[] = [];
    const watch = createLagWatch({ lagBytes: 1000, totalBytes: 4000 });
    let idleQueued = 0;
    const busy = member(() => 600, lagged);
    const idle = member(() => idleQueued, lagged);
    watch.join(busy);
    watch.join(idle);
    watch.published(250); // rooms of 1000: 600 is within
    expect(lagged).toEqual([]);
    const others = Array.from({ length: 6 }, () => member(() => 0, lagged));
    for (const other of others) watch.join(other);
    watch.published(125); // eight members, rooms of 500: a check every 125 bytes
    expect(lagged).toEqual([busy]);
    for (const other of others) watch.leave(other);
    idleQueued = 900; // one member left: its room is 1000 again
    watch.published(250);
    expect(lagged).toEqual([busy]);
    expect(watch.stats()).toEqual({ live: 1, lagEvents: 1 });
    watch.close();
  });

  test("with a shared total, the live members together hold at most a quarter over it plus a message each", () => {
    const random = seededRandom(11);
    for (let run = 0; run < 200; run++) {
      const lagBytes = 1000 + random(50_000);
      const count = 1 + random(40);
      const totalBytes = 1000 + random(lagBytes * count);
      const largestMessage = 1 + random(lagBytes);
      const watch = createLagWatch({ lagBytes, totalBytes, trailingCheckMs: 60_000 });
      const lagged: LiveMember[] = [];
      const queued = Array.from({ length: count }, () => 0);
      const stallsAfter = queued.map(() => random(200));
      const members = queued.map((_, i) => member(() => queued[i] ?? 0, lagged));
      for (const one of members) watch.join(one);
      for (let message = 0; lagged.length < count && message < 20_000; message++) {
        const bytes = 1 + random(largestMessage);
        members.forEach((one, i) => {
          if (message >= (stallsAfter[i] ?? 0) && !lagged.includes(one)) queued[i] = (queued[i] ?? 0) + bytes;
        });
        watch.published(bytes);
        const live = members.filter((one) => !lagged.includes(one));
        const held = live.reduce((sum, one) => sum + one.bufferedAmount(), 0);
        expect(held).toBeLessThanOrEqual(1.25 * totalBytes + live.length * bytes);
        for (const one of live) expect(one.bufferedAmount()).toBeLessThanOrEqual(1.25 * lagBytes + bytes);
      }
      expect(lagged.length).toBe(count);
      watch.close();
    }
  });

  test("a member near the limit at the last check is checked after a publish that can take it over", async () => {
    const lagged: LiveMember[] = [];
    const watch = createLagWatch({ lagBytes: 1000, trailingCheckMs: 5 });
    let buffered = 0;
    const slow = member(() => buffered, lagged);
    watch.join(slow);
    buffered = 950;
    watch.published(1000); // a check: the member holds 950 then
    expect(lagged).toEqual([]);
    buffered = 955;
    watch.published(5); // 950 + 5 cannot pass 1000: no trailing check
    await Bun.sleep(30);
    expect(lagged).toEqual([]);
    buffered = 1015;
    watch.published(60); // 950 + 65 can
    await waitFor(() => lagged.length > 0, 1000, "the trailing lag check");
    expect(lagged).toEqual([slow]);
    watch.close();
  });
});
