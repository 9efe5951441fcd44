/**
 * The recent deliveries' pages, by table: when memory answers and when the store must, what a page holds,
 * and what it counts. That they equal the store's own pages is the store contract's generated test.
 */
import { describe, expect, test } from "bun:test";
import { createRecentDeliveries, recentFirst } from "../../src/relay/recent-deliveries.ts";
import type { DeliveryRead, DeliveryStore, ReplayedDelivery } from "../../src/relay/store.ts";
import { newDelivery } from "../helpers/deliveries.ts";
import { seededRandom } from "../helpers/random.ts";

const delivery = (bucketId: string, body: string): ReplayedDelivery => ({
  ...newDelivery(bucketId, body, null, "in"),
  id: body,
  bucketName: bucketId,
  inputName: "in",
});

/** Positions 11..16: a1 b2 a3 gone4 a5 b6 (bucket "gone" is no longer known). */
function filled() {
  // The names now: bucket "b" was renamed "B" after its deliveries were published; "gone" was deleted.
  const recent = createRecentDeliveries({
    startPosition: 10,
    namesOf: (bucketId, inputId) =>
      bucketId === "gone" ? null : { bucketName: bucketId === "b" ? "B" : bucketId, inputName: inputId },
    maxBytes: 1024 * 1024,
  });
  const items: Array<[string, string]> = [
    ["a", "a1"],
    ["b", "b2"],
    ["a", "a3"],
    ["gone", "g4"],
    ["a", "a5"],
    ["b", "b6"],
  ];
  for (const [i, [bucket, body]] of items.entries()) recent.add(delivery(bucket, body), 11 + i);
  return recent;
}

const read = (over: Partial<DeliveryRead>): DeliveryRead => ({
  bucketIds: ["a"],
  afterPosition: 10,
  throughPosition: 16,
  maxRows: 100,
  maxBytes: 1 << 20,
  ...over,
});

describe("recent deliveries", () => {
  const cases: Array<{ name: string; read: Partial<DeliveryRead>; floor?: number; bodies: string[] | null }> =
    [
      { name: "a bucket's deliveries in the range, in order", read: {}, bodies: ["a1", "a3", "a5"] },
      { name: "only those after the position", read: { afterPosition: 11 }, bodies: ["a3", "a5"] },
      { name: "only those up to the end of the range", read: { throughPosition: 13 }, bodies: ["a1", "a3"] },
      { name: "no more than the rows asked for", read: { maxRows: 2 }, bodies: ["a1", "a3"] },
      {
        name: "stops once the bodies reach the bytes asked for",
        read: { maxBytes: 3 },
        bodies: ["a1", "a3"],
      },
      { name: "always at least one delivery", read: { maxBytes: 1 }, bodies: ["a1"] },
      { name: "nothing for no bucket", read: { bucketIds: [] }, bodies: [] },
      { name: "above the store's retention floor only", read: {}, floor: 12, bodies: ["a3", "a5"] },
      {
        name: "a bucket no longer known sends the read to the store",
        read: { bucketIds: null },
        bodies: null,
      },
      {
        name: "every bucket up to the one no longer known",
        read: { bucketIds: null, maxRows: 3 },
        bodies: ["a1", "b2", "a3"],
      },
      { name: "a read from before the window goes to the store", read: { afterPosition: 9 }, bodies: null },
      {
        name: "a read past the newest delivery goes to the store",
        read: { throughPosition: 17 },
        bodies: null,
      },
    ];
  for (const c of cases)
    test(c.name, () => {
      const recent = filled();
      const page = recent.read(read(c.read), c.floor ?? 0);
      expect(page === null ? null : page.deliveries.map((d) => new TextDecoder().decode(d.body))).toEqual(
        c.bodies,
      );
      if (page !== null) expect(page.prunedThrough).toBe(c.floor ?? 0);
      expect(recent.stats()).toMatchObject(
        c.bodies === null
          ? { pagesFromMemory: 0, pagesFromStore: 1 }
          : { pagesFromMemory: 1, pagesFromStore: 0 },
      );
    });

  test("a page carries the names as they are now", () => {
    const page = filled().read(read({ bucketIds: ["a", "b"], throughPosition: 13 }), 0);
    expect(page?.deliveries.map((d) => `${d.id} ${d.bucketName}/${d.inputName}`)).toEqual([
      "a1 a/in",
      "b2 B/in",
      "a3 a/in",
    ]);
  });

  test("what it holds is bounded: the oldest go first, and reads before them go to the store", () => {
    const recent = createRecentDeliveries({
      startPosition: 0,
      namesOf: () => ({ bucketName: "a", inputName: "in" }),
      maxBytes: 3 * 2049,
    });
    for (let i = 1; i <= 5; i++) recent.add(delivery("a", `${i}`), i);
    expect(recent.stats()).toMatchObject({ held: 3, heldBytes: 3 * 2049 });
    // 1 and 2 went: the window starts after 2.
    expect(recent.covers(read({ afterPosition: 2, throughPosition: 5 }))).toBe(true);
    expect(recent.covers(read({ afterPosition: 4, throughPosition: 5 }))).toBe(true);
    expect(recent.covers(read({ afterPosition: 1, throughPosition: 5 }))).toBe(false);
    expect(recent.covers(read({ afterPosition: 2, throughPosition: 6 }))).toBe(false);
    const page = recent.read(read({ afterPosition: 2, throughPosition: 5 }), 0);
    expect(page?.deliveries.map((d) => d.id)).toEqual(["3", "4", "5"]);
  });

  test("generated: every body held comes back whole, however the buffer wraps round", () => {
    const random = seededRandom(5);
    for (let run = 0; run < 40; run++) {
      // Bodies from none to the whole buffer: it wraps every few adds, often skipping a long end.
      const maxBytes = 2100 + random(20_000);
      const recent = createRecentDeliveries({
        startPosition: 0,
        namesOf: () => ({ bucketName: "a", inputName: "in" }),
        maxBytes,
      });
      const added: string[] = [];
      for (let position = 1; position <= 300; position++) {
        const body = String.fromCharCode(97 + random(26)).repeat(random(maxBytes)) + position;
        recent.add(delivery("a", body), position);
        added.push(body);
        const { held } = recent.stats();
        const all = read({ afterPosition: position - held, throughPosition: position, maxRows: 1000 });
        const page = recent.read(all, 0);
        const got = page?.deliveries.map((d) => new TextDecoder().decode(d.body));
        expect(got).toEqual(added.slice(added.length - held));
        if (held === 0) continue;
        // Nothing older is claimed.
        expect(recent.covers({ ...all, afterPosition: position - held - 1 })).toBe(false);
      }
    }
  });

  test("through the store: a covered page reads only the retention floor from the store", async () => {
    const recent = filled();
    const floors: Array<readonly string[] | null> = [];
    const store = {
      retentionFloor: async (bucketIds: readonly string[] | null) => {
        floors.push(bucketIds);
        return 12;
      },
      readDeliveries: () => Promise.reject(new Error("the store's pages were read")),
    } as unknown as DeliveryStore;
    const page = await recentFirst(store, recent).readDeliveries(read({}));
    expect(page.deliveries.map((d) => d.id)).toEqual(["a3", "a5"]);
    expect(page.prunedThrough).toBe(12);
    expect(floors).toEqual([["a"]]);
  });
});
