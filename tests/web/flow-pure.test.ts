import { describe, expect, test } from "bun:test";
import type { LogEntry } from "../../src/logs/entry.ts";
import {
  hookCounts,
  hooksOfEntries,
  markClass,
  readTimeline,
  relativeTime,
  stepLabel,
  stepMark,
  timelineResult,
} from "../../src/web/client/flow-model.ts";
import { makeEntry } from "../helpers/entries.ts";

const entry = (timestamp: string, hook: string | null, fields: Partial<LogEntry> = {}): LogEntry =>
  makeEntry({ timestamp, hook_id: hook, ...fields });

describe("flow view model", () => {
  const marks: Array<[string, string, string]> = [
    ["a completed step is done", "completed", "✓"],
    ["a failed step is failed", "failed", "✗"],
    ["a started step is pending", "started", "◷"],
    ["an unknown status is pending", "unknown", "◷"],
  ];
  for (const [name, status, mark] of marks) test(name, () => expect<string>(stepMark(status)).toBe(mark));

  const times: Array<[string, number, string]> = [
    ["milliseconds under a second", 18, "+18 ms"],
    ["seconds past one", 1250, "+1.3 s"],
    ["a negative time shows as zero", -5, "+0 ms"],
  ];
  for (const [name, ms, text] of times)
    test(`relative time: ${name}`, () => expect(relativeTime(ms)).toBe(text));

  test("a summary answer reads as a timeline whose steps have logs", () => {
    const timeline = readTimeline({
      hook_id: "h",
      start_time: "2026-12-02T04:45:23.296762+00:00",
      total_duration_ms: 282,
      step_count: 1,
      token_spend: 12,
      repository: "r",
      event_type: "pull_request",
      success: false,
      error: { type: "RuntimeError", message: "boom" },
      steps: [
        {
          step_name: "repo_clone",
          task_status: "failed",
          duration_ms: 77,
          relative_time_ms: 74,
          timestamp: "t",
          error: { type: "RuntimeError", message: "Clone failed" },
          message: "repo_clone: failed - Clone failed",
        },
      ],
    });
    expect(timeline).toMatchObject({
      hookId: "h",
      tokenSpend: 12,
      success: false,
      error: "RuntimeError: boom",
    });
    expect(timeline?.fromSummary).toBe(true);
    expect(timeline?.steps[0]).toMatchObject({
      name: "repo_clone",
      mark: "✗",
      durationMs: 77,
      relativeMs: 74,
    });
  });

  test("a tagged-lines answer reads as a timeline whose steps have no logs", () => {
    const timeline = readTimeline({
      hook_id: "h",
      start_time: "t",
      total_duration_ms: 0,
      step_count: 1,
      steps: [
        { task_id: "clone", task_status: "completed", relative_time_ms: 0, timestamp: "t", message: "ok" },
      ],
    });
    expect(timeline?.fromSummary).toBe(false);
    expect(timeline?.steps[0]?.name).toBe("clone");
  });

  test("anything else is not a timeline", () => expect(readTimeline({ detail: "No data" })).toBeNull());

  test("a PR's hooks: distinct, oldest first, with counts and errors", () => {
    const hooks = hooksOfEntries([
      entry("2026-12-02T04:45:25.5+00:00", "b", { level: "ERROR" }),
      entry("2026-12-02T04:45:25.25+00:00", "b"),
      entry("2026-12-02T04:45:24+00:00", "a"),
      entry("2026-12-02T04:45:26+00:00", null),
    ]);
    expect(hooks.map((h) => [h.hookId, h.firstAt, h.entries, h.errors])).toEqual([
      ["a", "2026-12-02T04:45:24+00:00", 1, 0],
      ["b", "2026-12-02T04:45:25.25+00:00", 2, 1],
    ]);
  });
});

describe("flow view wording", () => {
  const results: Array<[string, boolean | null, string, string]> = [
    ["a hook still unknown shows no result", null, "", ""],
    ["a hook that succeeded says so", true, "ignored", "succeeded"],
    ["a failed hook names its error", false, "boom", "failed: boom"],
    ["a failed hook without an error just failed", false, "", "failed"],
  ];
  for (const [name, success, error, text] of results)
    test(name, () => expect(timelineResult({ success, error })).toBe(text));

  const marks: Array<[string, "✓" | "✗" | "◷", string]> = [
    ["a done step is drawn ok", "✓", "mark-ok"],
    ["a failed step is drawn failed", "✗", "mark-failed"],
    ["a started step is drawn pending", "◷", "mark-pending"],
  ];
  for (const [name, mark, cls] of marks) test(name, () => expect(markClass(mark)).toBe(cls));

  const labels: Array<[string, number | null, boolean, string]> = [
    ["a step with logs offers them", 1250, true, "clone: completed, 1.3 s; show its logs"],
    ["a step from tagged lines offers nothing", 1250, false, "clone: completed, 1.3 s"],
    ["a step without a duration leaves it out", null, true, "clone: completed; show its logs"],
  ];
  for (const [name, durationMs, hasLogs, label] of labels)
    test(`step label: ${name}`, () =>
      expect(stepLabel({ name: "clone", status: "completed", durationMs }, hasLogs)).toBe(label));

  test("a PR hook counts its entries, and its errors only when there are some", () => {
    expect(hookCounts({ entries: 3, errors: 0 })).toBe("3 entries");
    expect(hookCounts({ entries: 3, errors: 2 })).toBe("3 entries, 2 errors");
  });
});
