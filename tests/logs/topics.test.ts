import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { LogEntry } from "../../src/logs/entry.ts";
import { createLogHub, type LiveMember } from "../../src/logs/log-hub.ts";
import { entryMatches, type LogFilters, topicForFilters } from "../../src/logs/topics.ts";
import { makeEntry as entry } from "../helpers/entries.ts";

/** A live member that never lags. */
const member = (): LiveMember => ({ bufferedAmount: () => 0, onLag() {} });

/** A hub whose publish records (topic, payload) pairs. */
function recordingHub() {
  const published: Array<[string, string]> = [];
  const hub = createLogHub({ publish: (topic, payload) => published.push([topic, payload]), redact: true });
  return { hub, published };
}

describe("canonical topics", () => {
  test("the same filters in any order give the same topic", () => {
    expect(topicForFilters({ level: "ERROR", repository: "a/b" })).toBe(
      topicForFilters({ repository: "a/b", level: "ERROR" }),
    );
  });
  test("no filter is the topic of mask 0", () => {
    expect(topicForFilters({})).toBe("logs/0");
  });
  test("values that contain separators cannot collide", () => {
    expect(topicForFilters({ hook_id: "a/1:b", repository: "c" })).not.toBe(
      topicForFilters({ hook_id: "a", repository: "1:b/c" }),
    );
  });
  test("the same value on different fields gives different topics", () => {
    expect(topicForFilters({ hook_id: "5" })).not.toBe(topicForFilters({ pr_number: "5" }));
  });
});

describe("routing through the hub", () => {
  const cases: Array<[string, LogFilters, Partial<LogEntry>, boolean]> = [
    ["no filter receives everything", {}, { level: "DEBUG" }, true],
    ["a level filter receives that level", { level: "ERROR" }, { level: "ERROR" }, true],
    ["a level filter is exact, not a minimum", { level: "WARNING" }, { level: "ERROR" }, false],
    ["a repository filter ignores other repositories", { repository: "a/b" }, { repository: "a/c" }, false],
    [
      "combined filters all have to match",
      { repository: "a/b", level: "ERROR" },
      { repository: "a/b", level: "INFO" },
      false,
    ],
    [
      "combined filters match when every field does",
      { repository: "a/b", level: "ERROR", pr_number: "7" },
      { repository: "a/b", level: "ERROR", pr_number: 7 },
      true,
    ],
    ["a hook filter does not match an entry without hook", { hook_id: "h" }, {}, false],
    ["a user filter matches the user", { github_user: "octocat" }, { github_user: "octocat" }, true],
    ["an event filter is case-sensitive", { event_type: "push" }, { event_type: "Push" }, false],
  ];
  for (const [name, filters, fields, delivered] of cases) {
    test(name, () => {
      const { hub, published } = recordingHub();
      const topic = hub.subscribe(filters, member());
      hub.publish(entry(fields));
      expect(published.map(([t]) => t)).toEqual(delivered ? [topic] : []);
    });
  }

  test("an entry is serialised once however many topics it reaches", () => {
    const { hub, published } = recordingHub();
    hub.subscribe({}, member());
    hub.subscribe({ level: "ERROR" }, member());
    hub.subscribe({ repository: "a/b", level: "ERROR" }, member());
    hub.publish(entry({ level: "ERROR", repository: "a/b" }));
    expect(published).toHaveLength(3);
    expect(new Set(published.map(([, payload]) => payload)).size).toBe(1);
    expect(published[0]?.[1]).toBe(published[1]?.[1] as string); // the very same string object's content
  });

  test("topics without subscribers cost nothing and are forgotten", () => {
    const { hub, published } = recordingHub();
    const first = member();
    const second = member();
    const a = hub.subscribe({ level: "ERROR" }, first);
    const b = hub.subscribe({ level: "ERROR" }, second);
    expect(a).toBe(b);
    hub.unsubscribe(a, first);
    hub.publish(entry({ level: "ERROR" }));
    expect(published).toHaveLength(1);
    hub.unsubscribe(b, second);
    hub.publish(entry({ level: "ERROR" }));
    expect(published).toHaveLength(1);
    expect(hub.stats()).toMatchObject({ topics: 0, subscribers: 0 });
  });

  test("secrets are redacted in what is published", () => {
    const { hub, published } = recordingHub();
    hub.subscribe({}, member());
    hub.publish(entry({ message: "cloning with ghp_abcdefghijklmnopqrstuvwxyz0123456789" }));
    expect(published[0]?.[1]).toContain("ghp_*****");
    expect(published[0]?.[1]).not.toContain("abcdefghijklmnop");
  });

  test("routing agrees with the naive matcher for any filters and entries", () => {
    const value = fc.constantFrom("a", "b", "a/b", "1:x", "");
    const filterArb = fc.record(
      {
        hook_id: value,
        pr_number: fc.constantFrom("1", "2"),
        repository: value,
        event_type: value,
        github_user: value,
        level: fc.constantFrom("INFO", "ERROR"),
      },
      { requiredKeys: [] },
    );
    const entryArb = fc.record({
      hook_id: fc.option(value),
      pr_number: fc.option(fc.constantFrom(1, 2)),
      repository: fc.option(value),
      event_type: fc.option(value),
      github_user: fc.option(value),
      level: fc.constantFrom("INFO", "ERROR"),
    });
    fc.assert(
      fc.property(
        fc.array(filterArb, { maxLength: 12 }),
        fc.array(entryArb, { maxLength: 8 }),
        (filterSets, fieldSets) => {
          const { hub, published } = recordingHub();
          const topics = filterSets.map((filters) => hub.subscribe(filters as LogFilters, member()));
          for (const fields of fieldSets) {
            published.length = 0;
            const e = entry(fields);
            hub.publish(e);
            const expected = new Set(topics.filter((_, i) => entryMatches(e, filterSets[i] as LogFilters)));
            expect(new Set(published.map(([t]) => t))).toEqual(expected);
            expect(published.length).toBe(expected.size); // once per topic
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
