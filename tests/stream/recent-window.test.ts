/**
 * The recent window: what it holds after each add, what it says it covers, and what a scan returns, by table
 * and against a model (every item added, minus a prefix).
 */
import { describe, expect, test } from "bun:test";
import { createRecentWindow } from "../../src/stream/recent-window.ts";
import { seededRandom } from "../helpers/random.ts";

/** Items are their own size in bytes. */
const windowOf = (maxBytes: number, startPosition = 0) =>
  createRecentWindow<number>({ startPosition, maxBytes, bytesOf: (size) => size });

const scanned = (window: ReturnType<typeof windowOf>, after: number, through: number, stopAt = Infinity) => {
  const out: number[] = [];
  window.scan(after, through, (_, position) => {
    out.push(position);
    return out.length < stopAt;
  });
  return out;
};

describe("recent window", () => {
  const cases: Array<{
    name: string;
    maxBytes: number;
    adds: Array<[position: number, bytes: number]>;
    from: number;
    newest: number;
    held: number[];
  }> = [
    {
      name: "an empty window starts after its start position",
      maxBytes: 10,
      adds: [],
      from: 0,
      newest: 0,
      held: [],
    },
    {
      name: "items within the limit are all held",
      maxBytes: 10,
      adds: [
        [1, 3],
        [2, 3],
        [5, 4],
      ],
      from: 0,
      newest: 5,
      held: [1, 2, 5],
    },
    {
      name: "past the limit the oldest go, and the window starts at the last one dropped",
      maxBytes: 10,
      adds: [
        [1, 3],
        [2, 3],
        [5, 4],
        [9, 2],
      ],
      from: 1,
      newest: 9,
      held: [2, 5, 9],
    },
    {
      name: "an item larger than the limit is dropped too: the window starts after it",
      maxBytes: 10,
      adds: [
        [1, 3],
        [2, 11],
      ],
      from: 2,
      newest: 2,
      held: [],
    },
    {
      name: "a position that does not increase empties the window, which starts after the newest",
      maxBytes: 100,
      adds: [
        [1, 3],
        [4, 3],
        [3, 3],
        [6, 3],
      ],
      from: 4,
      newest: 6,
      held: [6],
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      const window = windowOf(c.maxBytes);
      for (const [position, bytes] of c.adds) window.add(position, bytes);
      expect(window.from()).toBe(c.from);
      expect(window.newest()).toBe(c.newest);
      expect(scanned(window, window.from(), window.newest())).toEqual(c.held);
      expect(window.size().items).toBe(c.held.length);
    });

  test("it covers a read only from its start to its newest item", () => {
    const window = windowOf(10, 100);
    window.add(101, 4);
    window.add(105, 4);
    window.add(107, 4);
    expect(window.from()).toBe(101);
    expect(window.covers(101, 107)).toBe(true);
    expect(window.covers(104, 105)).toBe(true);
    expect(window.covers(100, 107)).toBe(false);
    expect(window.covers(101, 108)).toBe(false);
    expect(scanned(window, 101, 107)).toEqual([105, 107]);
    expect(scanned(window, 104, 106)).toEqual([105]);
    expect(scanned(window, 101, 107, 1)).toEqual([105]);
  });

  test("generated adds and scans agree with a model, across compactions", () => {
    const random = seededRandom(7);
    for (let run = 0; run < 30; run++) {
      const maxBytes = 50 + random(5000);
      const window = windowOf(maxBytes);
      const model: Array<[number, number]> = [];
      let position = 0;
      let from = 0;
      for (let op = 0; op < 3000; op++) {
        position += 1 + random(3);
        const bytes = 1 + random(60);
        window.add(position, bytes);
        model.push([position, bytes]);
        let total = model.reduce((sum, [, b]) => sum + b, 0);
        while (total > maxBytes) {
          const [dropped, b] = model.shift() as [number, number];
          from = dropped;
          total -= b;
        }
        if (op % 50 !== 0) continue;
        expect(window.from()).toBe(from);
        expect(window.size()).toEqual({ items: model.length, bytes: total });
        const after = from + random(position - from + 1);
        expect(scanned(window, after, position)).toEqual(model.map(([p]) => p).filter((p) => p > after));
      }
    }
  });
});
