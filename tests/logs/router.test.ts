import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { LogEntry } from "../../src/logs/entry.ts";
import { createTopicRouter } from "../../src/logs/topic-router.ts";
import { entryMatches, type LogFilters } from "../../src/logs/topics.ts";
import { makeEntry as entry } from "../helpers/entries.ts";

const routed = (router: ReturnType<typeof createTopicRouter<string>>, e: LogEntry) => {
  const out: string[] = [];
  router.route(e, (value) => out.push(value));
  return out.sort();
};

describe("topic router", () => {
  test("routes by every field of a mask, and pr_number as its decimal string", () => {
    const router = createTopicRouter<string>();
    router.add({ repository: "a/b", level: "ERROR" }, "repo+level");
    router.add({ pr_number: "7" }, "pr");
    router.add({}, "all");
    expect(routed(router, entry({ repository: "a/b", level: "ERROR", pr_number: 7 }))).toEqual([
      "all",
      "pr",
      "repo+level",
    ]);
    expect(routed(router, entry({ repository: "a/b", level: "INFO" }))).toEqual(["all"]);
  });

  test("removing the last topic of a mask forgets the mask; removing twice is harmless", () => {
    const router = createTopicRouter<string>();
    router.add({ repository: "a/b", level: "ERROR" }, "x");
    router.add({ repository: "a/c", level: "ERROR" }, "y");
    expect(router.maskCount()).toBe(1);
    router.remove({ repository: "a/b", level: "ERROR" });
    router.remove({ repository: "a/b", level: "ERROR" });
    expect(routed(router, entry({ repository: "a/b", level: "ERROR" }))).toEqual([]);
    expect(routed(router, entry({ repository: "a/c", level: "ERROR" }))).toEqual(["y"]);
    router.remove({ repository: "a/c", level: "ERROR" });
    expect(router.maskCount()).toBe(0);
  });

  test("agrees with the naive matcher under any sequence of adds and removes", () => {
    const value = fc.constantFrom("a", "b", "7");
    const filtersArb = fc.record(
      {
        hook_id: value,
        pr_number: fc.constantFrom("7", "8"),
        repository: value,
        level: fc.constantFrom("INFO", "ERROR"),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), filtersArb), { maxLength: 40 }),
        fc.record({
          hook_id: fc.option(value),
          pr_number: fc.option(fc.constantFrom(7, 8)),
          repository: fc.option(value),
          level: fc.constantFrom("INFO", "ERROR"),
        }),
        (operations, fields) => {
          const router = createTopicRouter<string>();
          const live = new Map<string, LogFilters>();
          for (const [add, filters] of operations) {
            const key = JSON.stringify(Object.entries(filters).sort());
            if (add) {
              router.add(filters, key);
              live.set(key, filters);
            } else {
              router.remove(filters);
              live.delete(key);
            }
          }
          const e = entry(fields);
          const expected = [...live]
            .filter(([, filters]) => entryMatches(e, filters))
            .map(([key]) => key)
            .sort();
          expect(routed(router, e)).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  test("an entry given as a function is read only while a topic filters on a field", () => {
    const router = createTopicRouter<string>();
    let calls = 0;
    const lazy = () => {
      calls++;
      return entry({ hook_id: "h1" });
    };
    const routed = () => {
      const seen: string[] = [];
      router.route(lazy, (value) => seen.push(value));
      return seen.sort();
    };
    router.add({}, "all");
    expect(routed()).toEqual(["all"]);
    expect(calls).toBe(0);
    router.add({ hook_id: "h1" }, "h1");
    router.add({ hook_id: "h2" }, "h2");
    expect(routed()).toEqual(["all", "h1"]);
    expect(calls).toBe(1);
    router.remove({ hook_id: "h1" });
    router.remove({ hook_id: "h2" });
    expect(routed()).toEqual(["all"]);
    expect(calls).toBe(1);
  });
});
