import { describe, expect, test } from "bun:test";
import {
  buildPrFlow,
  checkSummary,
  type FlowId,
  isoMicros,
  parseFlowId,
  stepWindow,
  summaryTimeline,
  taggedTimeline,
} from "../../src/history/flow.ts";
import { formatCount } from "../../src/history/pages.ts";
import { isTrustedAddress } from "../../src/http/trusted-network.ts";
import type { LogEntry } from "../../src/logs/entry.ts";
import { makeEntry } from "../helpers/entries.ts";

function entry(timestamp: string, message: string, fields: Partial<LogEntry> = {}): LogEntry {
  return makeEntry({ timestamp, message, hook_id: "h1", repository: "org/repo", pr_number: 7, ...fields });
}

describe("flow ids", () => {
  const cases: Array<[string, string, FlowId]> = [
    ["a hook- prefix names a hook", "hook-abc", { kind: "hook", hookId: "abc" }],
    ["a pr- prefix names a PR", "pr-42", { kind: "pr", prNumber: 42 }],
    ["a bare integer is a PR number", "412", { kind: "pr", prNumber: 412 }],
    ["anything else is a hook id", "2f6d20ce-ee0b", { kind: "hook", hookId: "2f6d20ce-ee0b" }],
    [
      "a pr- prefix without a number is refused with a sentence",
      "pr-abc",
      { kind: "invalid", message: '"pr-abc" is not a flow id: after "pr-" comes a PR number' },
    ],
  ];
  for (const [name, id, expected] of cases) test(name, () => expect(parseFlowId(id)).toEqual(expected));
});

describe("timestamps", () => {
  const cases: Array<[string, string, number | null]> = [
    [
      "microseconds are kept",
      "2026-12-02T04:45:23.296762+00:00",
      Date.UTC(2026, 11, 2, 4, 45, 23) * 1000 + 296762,
    ],
    ["Z is UTC", "2025-01-05T10:00:01.000000Z", Date.UTC(2025, 0, 5, 10, 0, 1) * 1000],
    ["an offset is applied", "2025-01-05T12:00:00+02:00", Date.UTC(2025, 0, 5, 10, 0, 0) * 1000],
    ["a naive time is read as UTC", "2025-01-05T10:00:00", Date.UTC(2025, 0, 5, 10, 0, 0) * 1000],
    ["prose is not a time", "yesterday", null],
  ];
  for (const [name, text, expected] of cases) test(name, () => expect(isoMicros(text)).toBe(expected));
});

describe("pr flow", () => {
  const t = (ms: number) =>
    `2026-03-15T14:00:0${Math.floor(ms / 1000)}.${String((ms % 1000) * 1000).padStart(6, "0")}+00:00`;
  test("stages take the first matching entry in time, with durations since the previous stage", () => {
    const flow = buildPrFlow("pr-22", [
      entry(t(3300), "Check tox completed successfully"),
      entry(t(0), "Processing webhook"),
      entry(t(120), "Signature verification successful"),
      entry(t(1000), "Adding label size/M"),
    ]);
    expect(flow).toEqual({
      identifier: "pr-22",
      stages: [
        { name: "Webhook Received", timestamp: t(0), duration_ms: null },
        { name: "Validation Complete", timestamp: t(120), duration_ms: 120 },
        { name: "Labels Applied", timestamp: t(1000), duration_ms: 880 },
        { name: "Checks Started", timestamp: t(3300), duration_ms: 2300 },
        { name: "Checks Complete", timestamp: t(3300), duration_ms: 0 },
        { name: "Processing Complete", timestamp: t(3300), duration_ms: 0 },
      ],
      total_duration_ms: 3300,
      success: true,
    });
  });
  test("a stage found before the previous one has a negative duration, as in the original", () => {
    const flow = buildPrFlow("h", [
      entry(t(0), "hello"),
      entry(t(100), "build started"),
      entry(t(500), "Processing webhook"),
    ]);
    expect(flow?.stages.map((s) => [s.name, s.duration_ms])).toEqual([
      ["Webhook Received", 500],
      ["Checks Started", -400],
    ]);
  });
  test("an ERROR entry makes the flow unsuccessful and names the error", () => {
    const flow = buildPrFlow("h", [
      entry(t(0), "Processing webhook"),
      entry(t(200), "Failed to build container: exit status 1", { level: "ERROR" }),
    ]);
    expect(flow?.success).toBe(false);
    expect(flow?.error).toBe("Failed to build container: exit status 1");
    expect(flow?.stages[1]).toEqual({
      name: "Checks Started",
      timestamp: t(200),
      duration_ms: 200,
      error: "Failed to build container: exit status 1",
    });
  });
  test("no entries give no flow", () => expect(buildPrFlow("h", [])).toBeNull());
});

const summary = {
  hook_id: "test-hook-123",
  event_type: "pull_request",
  action: "opened",
  repository: "org/test-repo",
  sender: "test-user",
  pr: { number: 456, title: "Test PR", url: "https://github.com/org/test-repo/pull/456" },
  timing: {
    started_at: "2025-01-05T10:00:00.000000Z",
    completed_at: "2025-01-05T10:00:05.000000Z",
    duration_ms: 5000,
  },
  workflow_steps: {
    clone_repository: { timestamp: "2025-01-05T10:00:01.000000Z", status: "completed", duration_ms: 1500 },
    assign_reviewers: { timestamp: "2025-01-05T10:00:02.500000Z", status: "started" },
    apply_labels: {
      timestamp: "2025-01-05T10:00:03.500000Z",
      status: "failed",
      duration_ms: 200,
      error: { type: "ValueError", message: "Label not found" },
    },
  },
  token_spend: 35,
  success: false,
  error: { type: "TestError", message: "Test failure message for unit tests" },
};

describe("workflow steps from a summary", () => {
  test("steps are sorted by time, with the original's messages, levels and relative times", () => {
    const timeline = summaryTimeline("test-hook-123", summary);
    if (!timeline.ok) throw new Error(timeline.reason);
    expect(timeline.value.steps.map((s) => [s.step_name, s.message, s.level, s.relative_time_ms])).toEqual([
      ["clone_repository", "clone_repository: completed (1500ms)", "INFO", 1000],
      ["assign_reviewers", "assign_reviewers: started", "DEBUG", 2500],
      ["apply_labels", "apply_labels: failed - Label not found", "ERROR", 3500],
    ]);
    expect(timeline.value).toMatchObject({
      hook_id: "test-hook-123",
      start_time: "2025-01-05T10:00:00.000000Z",
      total_duration_ms: 5000,
      step_count: 3,
      token_spend: 35,
      pr: summary.pr,
      sender: "test-user",
      success: false,
      error: summary.error,
    });
    expect(timeline.value.steps[0]).toMatchObject({
      pr_number: 456,
      task_id: "clone_repository",
      task_type: null,
    });
  });

  const malformed: Array<[string, unknown, string]> = [
    ["a record that is not an object", [1], "the record is not a JSON object"],
    ["timing missing", { ...summary, timing: undefined }, "timing is not a non-empty object"],
    ["timing empty", { ...summary, timing: {} }, "timing is not a non-empty object"],
    ["no steps", { ...summary, workflow_steps: {} }, "workflow_steps is not a non-empty object"],
    [
      "no duration",
      { ...summary, timing: { started_at: "2025-01-05T10:00:00Z" } },
      "timing lacks started_at or duration_ms",
    ],
    ["pr as a string", { ...summary, pr: "456" }, "pr is neither null nor an object"],
    ["a step that is a string", { ...summary, workflow_steps: { a: "done" } }, "step a is not an object"],
    [
      "a step without a timestamp",
      { ...summary, workflow_steps: { a: { status: "done" } } },
      "step a has no timestamp",
    ],
  ];
  for (const [name, record, reason] of malformed)
    test(`a summary with ${name} is malformed`, () =>
      expect(checkSummary(record)).toEqual({ ok: false, reason }));

  test("steps from tagged text lines, with the token spend when one is known", () => {
    const timeline = taggedTimeline("h1", [
      entry("2026-12-03T09:10:00.300000+00:00", "Failed", {
        task_id: "b",
        task_status: "failed",
        level: "ERROR",
      }),
      entry("2026-12-03T09:10:00.000000+00:00", "Routing", { task_id: "a", task_status: "started" }),
      entry("2026-12-03T09:10:00.100000+00:00", "untagged", { token_spend: 7 }),
    ]);
    expect(timeline?.steps.map((s) => [s.task_id, s.relative_time_ms])).toEqual([
      ["a", 0],
      ["b", 300],
    ]);
    expect(timeline?.total_duration_ms).toBe(300);
    expect(timeline?.token_spend).toBe(7);
    expect(taggedTimeline("h1", [entry("2026-12-03T09:10:00Z", "untagged")])).toBeNull();
  });
});

describe("step windows", () => {
  test("a step's window runs from its timestamp for its duration", () => {
    const window = stepWindow(summary, "clone_repository");
    if (window.ok !== true) throw new Error("no window");
    expect(window.value.toMicros - window.value.fromMicros).toBe(1_500_000);
    expect(window.value.step).toEqual({
      name: "clone_repository",
      status: "completed",
      timestamp: "2025-01-05T10:00:01.000000Z",
      duration_ms: 1500,
      error: null,
    });
  });
  test("a step without a duration gets a minute", () => {
    const window = stepWindow(summary, "assign_reviewers");
    if (window.ok !== true) throw new Error("no window");
    expect(window.value.toMicros - window.value.fromMicros).toBe(60_000_000);
  });
  test("an unknown step is absent", () => expect(stepWindow(summary, "deploy")).toEqual({ ok: "absent" }));
  test("a step timestamp that is not a time is a reason, not a crash", () => {
    const bad = { ...summary, workflow_steps: { a: { timestamp: "soon", status: "x" } } };
    expect(stepWindow(bad, "a")).toEqual({
      ok: false,
      reason: "step a has a timestamp that is not ISO 8601: soon",
    });
  });
});

describe("small pieces", () => {
  const counts: Array<[string, number, string]> = [
    ["counts under a thousand are written out", 950, "950"],
    ["thousands get a K", 1234, "1.2K"],
    ["millions get an M", 3_400_000, "3.4M"],
  ];
  for (const [name, n, text] of counts) test(name, () => expect(formatCount(n)).toBe(text));

  const addresses: Array<[string, string, boolean]> = [
    ["loopback IPv4 is trusted", "127.0.0.1", true],
    ["RFC 1918 10/8 is trusted", "10.1.2.3", true],
    ["RFC 1918 172.16/12 is trusted", "172.31.0.1", true],
    ["172.32 is public", "172.32.0.1", false],
    ["RFC 1918 192.168/16 is trusted", "192.168.1.1", true],
    ["link-local IPv4 is trusted", "169.254.1.1", true],
    ["a public IPv4 is not", "8.8.8.8", false],
    ["IPv6 loopback is trusted", "::1", true],
    ["IPv6 unique local is trusted", "fd12::1", true],
    ["IPv6 link-local is trusted", "fe80::1", true],
    ["a mapped private IPv4 is trusted", "::ffff:192.168.0.5", true],
    ["a mapped public IPv4 is not", "::ffff:8.8.8.8", false],
    ["a public IPv6 is not", "2001:db8::1", false],
    ["a missing address is not", "unknown", false],
  ];
  for (const [name, address, trusted] of addresses)
    test(name, () => expect(isTrustedAddress(address)).toBe(trusted));
});
