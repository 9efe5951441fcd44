import { describe, expect, test } from "bun:test";
import type { LogEntry } from "../../src/logs/entry.ts";
import { createEntryList } from "../../src/web/client/entry-list.ts";
import {
  describeError,
  duration,
  firstLine,
  levelClass,
  shortTime,
  workflowStepRows,
} from "../../src/web/client/format.ts";
import {
  createEntryMatcher,
  dedupeKey,
  exportUrl,
  historyUrl,
  isHistoryMode,
  pageUrl,
  parsePageQuery,
  shareUrl,
  streamUrl,
} from "../../src/web/client/query.ts";
import { rowShape } from "../../src/web/client/row.ts";
import {
  classifyRefusal,
  MAX_RETRY_MS,
  parseStreamMessage,
  type Refusal,
  retryDelay,
} from "../../src/web/client/stream-messages.ts";
import {
  deliveriesPath,
  describeOutcome,
  headerValue,
  keepSelection,
  loadFailure,
  MAX_BODY_CHARS,
  type OutputOutcome,
  replayPath,
  showBody,
} from "../../src/web/client/webhooks.ts";

function entry(message: string, overrides: Partial<LogEntry> = {}): LogEntry {
  return {
    timestamp: "2026-11-23T10:00:00.000000Z",
    level: "INFO",
    logger_name: "GithubWebhook",
    message,
    hook_id: "hook-1",
    event_type: "push",
    repository: "org/repo",
    pr_number: null,
    github_user: "octocat",
    task_id: null,
    task_type: null,
    task_status: null,
    token_spend: null,
    ...overrides,
  };
}

const origin = { protocol: "http:", host: "example.test:5000" };

describe("page query", () => {
  const cases: Array<[string, string, (q: ReturnType<typeof parsePageQuery>) => unknown, unknown]> = [
    [
      "the six filters go to the stream, search and times do not",
      "repository=a/b&level=error&search=boom&start_time=2026-11-23T00:00:00Z&pr_number=7",
      (q) => streamUrl(origin, q, { tail: 500 }),
      "ws://example.test:5000/logs/ws?pr_number=7&repository=a%2Fb&level=ERROR&tail=500",
    ],
    [
      "a resume asks for the cursor instead of a tail",
      "hook_id=h1",
      (q) => streamUrl({ protocol: "https:", host: "h" }, q, { cursor: "abc-1" }),
      "wss://h/logs/ws?hook_id=h1&cursor=abc-1",
    ],
    [
      "the page token is passed to the stream",
      "token=secret-token-123456",
      (q) => streamUrl(origin, q, { tail: 500 }),
      "ws://example.test:5000/logs/ws?tail=500&token=secret-token-123456",
    ],
    [
      "the share URL never holds the token",
      "repository=a/b&token=secret-token-123456",
      (q) => shareUrl("http://h/logs", q),
      "http://h/logs?repository=a%2Fb",
    ],
    [
      "the address bar keeps the token so a reload still works",
      "repository=a/b&token=t",
      (q) => pageUrl("/logs", q),
      "/logs?repository=a%2Fb&token=t",
    ],
    ["no filters: the bare page URL", "", (q) => shareUrl("http://h/logs", q), "http://h/logs"],
    [
      "history carries every field, the page size and the cursor",
      "repository=a/b&search=boom",
      (q) => historyUrl(q, { cursor: "c1", before: null }),
      "/logs/api/entries?repository=a%2Fb&search=boom&limit=500&cursor=c1",
    ],
    [
      "history below the shown entries uses them as the end of the range",
      "level=INFO",
      (q) => historyUrl(q, { cursor: null, before: "2026-11-23T10:00:00Z" }),
      "/logs/api/entries?level=INFO&end_time=2026-11-23T10%3A00%3A00Z&limit=500",
    ],
    [
      "a range the user set wins over the shown entries",
      "end_time=2026-01-01T00:00:00Z",
      (q) => historyUrl(q, { cursor: null, before: "2026-11-23T10:00:00Z" }),
      "/logs/api/entries?end_time=2026-01-01T00%3A00%3A00Z&limit=500",
    ],
    [
      "export links carry the search and the token (they are navigations)",
      "search=x&token=t",
      (q) => exportUrl(q, "json"),
      "/logs/api/export?search=x&format=json&token=t",
    ],
    ["search puts the page in history mode", "search=x", (q) => isHistoryMode(q), true],
    [
      "a start time puts the page in history mode",
      "start_time=2026-01-01T00:00:00Z",
      (q) => isHistoryMode(q),
      true,
    ],
    ["exact filters alone do not", "repository=a/b&level=INFO", (q) => isHistoryMode(q), false],
    ["values are trimmed", "repository=%20a/b%20", (q) => q.values.repository, "a/b"],
  ];
  for (const [name, search, run, expected] of cases)
    test(name, () => {
      expect(run(parsePageQuery(new URLSearchParams(search)))).toEqual(expected);
    });
});

describe("client-side matching", () => {
  const cases: Array<[string, string, LogEntry, boolean]> = [
    ["no search or range matches everything", "", entry("anything"), true],
    ["search is a case-insensitive substring of the message", "search=TIME", entry("a timeout"), true],
    ["search does not look at other fields", "search=octocat", entry("nothing here"), false],
    [
      "an entry before the start is left out",
      "start_time=2026-11-23T10:00:01Z",
      entry("x", { timestamp: "2026-11-23T10:00:00.500000Z" }),
      false,
    ],
    [
      "an entry after the end is left out",
      "end_time=2026-11-23T09:00:00Z",
      entry("x", { timestamp: "2026-11-23T10:00:00Z" }),
      false,
    ],
    [
      "zones are compared as instants",
      "start_time=2026-11-23T10:00:00Z",
      entry("x", { timestamp: "2026-11-23T11:30:00+01:00" }),
      true,
    ],
  ];
  for (const [name, search, candidate, expected] of cases)
    test(name, () => {
      expect(createEntryMatcher(parsePageQuery(new URLSearchParams(search)))(candidate)).toBe(expected);
    });
});

describe("entry list", () => {
  test("keeps the newest entries within its bound and counts what it dropped", () => {
    const list = createEntryList(3);
    list.append([entry("1"), entry("2")]);
    list.append([entry("3"), entry("4"), entry("5")]);
    expect(list.items.map((item) => item.entry.message)).toEqual(["3", "4", "5"]);
    expect(list.droppedOldest).toBe(2);
    expect(list.room()).toBe(0);
  });

  test("older history goes in front, skipping entries the backfill already showed", () => {
    const list = createEntryList(100);
    const at = (s: number) => `2026-11-23T10:00:0${s}.000000Z`;
    list.append([entry("b", { timestamp: at(2) }), entry("c", { timestamp: at(3) })]);
    const added = list.prependOlder([
      entry("a", { timestamp: at(1) }),
      entry("b", { timestamp: at(2) }),
      entry("c", { timestamp: at(3) }),
    ]);
    expect(added).toBe(1);
    expect(list.items.map((item) => item.entry.message)).toEqual(["a", "b", "c"]);
  });

  test("the same message from another hook is not a duplicate", () => {
    const list = createEntryList(100);
    list.append([entry("same", { hook_id: "h1" })]);
    expect(list.prependOlder([entry("same", { hook_id: "h2" })])).toBe(1);
  });

  test("ids stay sorted across prepends and appends, so an id finds its row", () => {
    const list = createEntryList(100);
    list.append([entry("m1", { timestamp: "2026-11-23T10:00:05Z" })]);
    list.prependOlder([
      entry("o1", { timestamp: "2026-11-23T10:00:01Z" }),
      entry("o2", { timestamp: "2026-11-23T10:00:02Z" }),
    ]);
    list.append([entry("m2", { timestamp: "2026-11-23T10:00:06Z" })]);
    const ids = list.items.map((item) => item.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    for (const [index, item] of list.items.entries()) expect(list.indexOfId(item.id)).toBe(index);
    expect(list.indexOfId(12345)).toBe(-1);
  });

  test("older pages never push the list past its bound", () => {
    const list = createEntryList(3);
    list.append([
      entry("new", { timestamp: "2026-11-23T10:00:09Z" }),
      entry("newer", { timestamp: "2026-11-23T10:00:10Z" }),
    ]);
    const older = [1, 2, 3].map((s) => entry(`old${s}`, { timestamp: `2026-11-23T10:00:0${s}Z` }));
    expect(list.prependOlder(older)).toBe(1);
    expect(list.items.map((item) => item.entry.message)).toEqual(["old3", "new", "newer"]);
  });

  test("the dedupe key is timestamp, message, hook id and logger", () => {
    expect(dedupeKey(entry("m"))).toBe(dedupeKey(entry("m", { level: "ERROR", repository: "x/y" })));
    expect(dedupeKey(entry("m"))).not.toBe(dedupeKey(entry("m", { logger_name: "other" })));
  });
});

describe("stream messages and backoff", () => {
  const cases: Array<[string, string, ReturnType<typeof parseStreamMessage>["kind"]]> = [
    ["an entry", JSON.stringify(entry("hi")), "entry"],
    ["the end of the backfill", '{"control":"live"}', "live"],
    ["a gap notice", '{"control":"gap","requested":"a","resumed_from":"b","message":"m"}', "gap"],
    ["the missing-directory message", '{"error":"Log directory not found"}', "error"],
    ["an unknown control", '{"control":"later"}', "unknown"],
    ["text that is not JSON", "<html>", "unknown"],
    ["a JSON array", "[1,2]", "unknown"],
  ];
  for (const [name, text, kind] of cases)
    test(`classifies ${name}`, () => {
      expect(parseStreamMessage(text).kind).toBe(kind);
    });

  test("reconnect waits double from 0.5 s up to 10 s, within ±20 %", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 30].map((attempt) => retryDelay(attempt, 0.5))).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000,
    ]);
    expect(retryDelay(0, 0)).toBe(400);
    expect(retryDelay(10, 1)).toBe(MAX_RETRY_MS * 1.2);
  });

  const refusals: Array<[string, Parameters<typeof classifyRefusal>[0], Refusal]> = [
    ["an unreachable server is retried", null, { kind: "retry", reason: "server unreachable" }],
    ["a 401 asks for a sign-in", { status: 401, body: "" }, { kind: "unauthorized" }],
    [
      "a 400 is final and shows the JSON error",
      { status: 400, body: '{"error":"bad level"}' },
      { kind: "failed", message: "bad level" },
    ],
    [
      "a 403 that is not JSON shows its text",
      { status: 403, body: "forbidden here" },
      { kind: "failed", message: "forbidden here" },
    ],
    ["an empty 400 says refused", { status: 400, body: "" }, { kind: "failed", message: "refused" }],
    [
      "a 503 is retried and named",
      { status: 503, body: "busy" },
      { kind: "retry", reason: "server answered 503" },
    ],
  ];
  for (const [name, answer, expected] of refusals)
    test(`a refused upgrade: ${name}`, () => {
      expect(classifyRefusal(answer)).toEqual(expected);
    });
});

describe("formatting", () => {
  test("short times keep the date and the millisecond as written", () => {
    expect(shortTime("2026-11-23T10:00:00.123456Z")).toBe("11-23 10:00:00.123");
    expect(shortTime("2026-11-23T10:00:00+01:00")).toBe("11-23 10:00:00.000");
    expect(shortTime("not a time")).toBe("not a time");
  });

  test("levels map to their class; anything else to one shared class", () => {
    expect(levelClass("error")).toBe("lvl-error");
    expect(levelClass("VERBOSE")).toBe("lvl-other");
    expect(levelClass('x" onmouseover="y')).toBe("lvl-other");
  });

  const shapes: Array<[string, Partial<LogEntry>, Partial<LogEntry>, boolean]> = [
    [
      "entries with other values in the same cells share a shape",
      {},
      { repository: "o/other", hook_id: "h9" },
      true,
    ],
    ["a missing chip is another shape", {}, { github_user: null }, false],
    ["an empty value counts as missing", { event_type: null }, { event_type: "" }, true],
    ["a truncated line has the tag: another shape", {}, { truncated: true }, false],
    ["a PR number present or not decides the shape", { pr_number: 1 }, { pr_number: null }, false],
  ];
  for (const [name, a, b, same] of shapes)
    test(`row shapes: ${name}`, () => {
      expect(rowShape(entry("m", a)) === rowShape(entry("n", b))).toBe(same);
    });

  test("a multi-line message shows its first line in the row", () => {
    expect(firstLine("Labeling failed\nTraceback")).toBe("Labeling failed …");
  });

  test("workflow steps as the processor writes them become table rows", () => {
    expect(
      workflowStepRows({
        clone_repository: { timestamp: "2025-01-05T10:00:01Z", status: "completed", duration_ms: 1500 },
        apply_labels: {
          status: "failed",
          duration_ms: 200,
          error: { type: "ValueError", message: "Label not found" },
        },
      }),
    ).toEqual([
      {
        name: "clone_repository",
        status: "completed",
        durationMs: 1500,
        at: "2025-01-05T10:00:01Z",
        error: "",
      },
      {
        name: "apply_labels",
        status: "failed",
        durationMs: 200,
        at: "",
        error: "ValueError: Label not found",
      },
    ]);
    expect(workflowStepRows([{ name: "a", status: "ok" }, { status: "x" }]).map((r) => r.name)).toEqual([
      "a",
      "step 2",
    ]);
    expect(workflowStepRows(null)).toEqual([]);
  });

  test("errors and durations read as one short line", () => {
    expect(describeError({ code: 3 })).toBe('{"code":3}');
    expect(describeError("plain")).toBe("plain");
    expect(duration(800)).toBe("800 ms");
    expect(duration(1500)).toBe("1.5 s");
    expect(duration(null)).toBe("");
  });
});

describe("delivery bodies", () => {
  test("JSON is indented", () => {
    expect(showBody({ body: '{"a":1}' }).text).toBe('{\n  "a": 1\n}');
  });
  test("base64 UTF-8 is decoded", () => {
    expect(showBody({ body: Buffer.from("héllo").toString("base64"), body_encoding: "base64" }).text).toBe(
      "héllo",
    );
  });
  test("binary stays base64 with a note", () => {
    const shown = showBody({
      body: Buffer.from([0xff, 0xfe, 0x00]).toString("base64"),
      body_encoding: "base64",
    });
    expect(shown.note).toContain("binary body, 3 bytes");
  });
  test("a huge body is cut for display", () => {
    const shown = showBody({ body: "x".repeat(MAX_BODY_CHARS + 10) });
    expect(shown.text.length).toBe(MAX_BODY_CHARS);
    expect(shown.note).toBe("10 more characters not shown");
  });
});

test("a delivery's header is found whatever the case of its name", () => {
  const headers = { "X-Github-Event": ["push", "ignored"], "Content-Type": ["application/json"] };
  expect(headerValue({ headers }, "x-github-event")).toBe("push");
  expect(headerValue({ headers }, "X-Missing")).toBe("");
});

describe("an output's outcome in the Webhooks tab", () => {
  const base: OutputOutcome = {
    name: "ci",
    destination: "https://ci.example.com/hook",
    state: "delivered",
    attempts: 1,
    status: 202,
    error: null,
    next_attempt_at: null,
  };
  const cases: Array<[string, Partial<OutputOutcome>, string]> = [
    [
      "a delivered one shows its answer and where it went",
      {},
      "delivered · HTTP 202 · 1 attempt → https://ci.example.com/hook",
    ],
    [
      "a pending one shows why the last try failed and when the next is due",
      {
        state: "pending",
        attempts: 3,
        status: null,
        error: "connection refused",
        next_attempt_at: "2026-12-02T06:00:00.000Z",
      },
      "pending · connection refused · 3 attempts · next 2026-12-02T06:00:00.000Z → https://ci.example.com/hook",
    ],
    [
      "a failed one shows the answer that ended it",
      { state: "failed", attempts: 2, status: 404, error: "HTTP 404" },
      "failed · HTTP 404 · 2 attempts → https://ci.example.com/hook",
    ],
  ];
  for (const [name, change, expected] of cases)
    test(name, () => expect(describeOutcome({ ...base, ...change })).toBe(expected));
});

describe("the Webhooks tab's list", () => {
  const failures: Array<[string, number, string, string]> = [
    [
      "the app's own 404 means the server has no deliveries API",
      404,
      "Not found",
      "Webhook deliveries are not available on this server.",
    ],
    ["the API's 404 names the bucket and is shown as it is", 404, "no bucket b1", "no bucket b1"],
    ["a 403 is shown as it is", 403, "forbidden", "forbidden"],
    ["anything else says the load failed", 500, "boom", "Could not load deliveries: boom"],
  ];
  for (const [name, status, message, shown] of failures)
    test(name, () => {
      expect(loadFailure(status, message)).toBe(shown);
    });

  const selections: Array<[string, string[], string | null, string | null]> = [
    ["a delivery still listed stays selected", ["a", "b"], "b", "b"],
    ["a delivery no longer listed gives way to the newest", ["a", "b"], "x", "a"],
    ["with nothing selected the newest is shown", ["a", "b"], null, "a"],
    ["an empty list selects nothing", [], "a", null],
  ];
  for (const [name, ids, selected, kept] of selections)
    test(name, () => {
      expect(
        keepSelection(
          ids.map((id) => ({ id })),
          selected,
        ),
      ).toBe(kept);
    });

  test("the list asks for one bucket by name, or lets the server pick", () => {
    expect(deliveriesPath("")).toBe("/logs/api/deliveries?limit=50");
    expect(deliveriesPath("a b")).toBe("/logs/api/deliveries?limit=50&bucket=a+b");
  });

  test("a replay names the bucket and delivery, escaped", () => {
    expect(replayPath({ bucket_id: "b/1", id: "d 2" })).toBe("/logs/api/deliveries/b%2F1/d%202/replay");
  });
});
