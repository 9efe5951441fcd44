/**
 * The original log viewer's history API on a directory the processor wrote (tests/fixtures/gws-twins, plus a
 * malformed summary and tagged text lines in tests/fixtures/gws-flow): routes, parameters and response keys,
 * each record once and newest first, and the requests the original's page makes, replayed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { fixtureFiles } from "../helpers/gws-replay.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const HOOK = "2f6d20ce-ee0b-11f1-bbe4-02fc00000001";
const FAILED_HOOK = "308eb698-ee0b-11f1-bbe4-02fc00000001";
/** 103 records in gws-twins, 3 + 4 in gws-flow. */
const RECORDS = 110;
const ENTRY_KEYS = [
  "timestamp",
  "level",
  "logger_name",
  "message",
  "hook_id",
  "event_type",
  "repository",
  "pr_number",
  "github_user",
  "task_id",
  "task_type",
  "task_status",
  "token_spend",
];
const ENTRIES_KEYS = [
  "entries",
  "entries_processed",
  "filtered_count_min",
  "total_log_count_estimate",
  "limit",
  "offset",
  "is_partial_scan",
];

interface Entry {
  timestamp: string;
  level: string;
  message: string;
  hook_id: string | null;
  pr_number: number | null;
  id: string;
}
interface EntriesPage {
  entries: Entry[];
  entries_processed: number | string;
  filtered_count_min: number;
  total_log_count_estimate: string;
  limit: number;
  offset: number;
  is_partial_scan: boolean;
  next_cursor: string | null;
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    files: fixtureFiles(
      join(import.meta.dir, "../fixtures/gws-twins"),
      join(import.meta.dir, "../fixtures/gws-flow"),
    ),
  });
});
afterAll(() => server[Symbol.asyncDispose]());

async function get(
  path: string,
): Promise<{ status: number; body: Record<string, unknown>; response: Response }> {
  const response = await fetch(server.httpUrl(path));
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, response };
}
async function page(query: string): Promise<EntriesPage> {
  const { status, body } = await get(`/logs/api/entries?${query}`);
  expect(status).toBe(200);
  return body as unknown as EntriesPage;
}
const micros = (ts: string) =>
  Date.parse(ts) * 1000 + Number((/\.(\d+)/.exec(ts)?.[1] ?? "0").padEnd(6, "0").slice(3, 6));

describe("GET /logs/api/entries, the original's way", () => {
  test("every record once, newest first, with the original's keys beside hookstream's", async () => {
    const all = await page("limit=10000");
    for (const key of ENTRIES_KEYS) expect(all).toHaveProperty(key);
    for (const key of ENTRY_KEYS) expect(all.entries[0]).toHaveProperty(key);
    expect(all.entries).toHaveLength(RECORDS);
    expect(new Set(all.entries.map((e) => `${e.timestamp} ${e.message}`)).size).toBe(RECORDS);
    const times = all.entries.map((e) => micros(e.timestamp));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(all).toMatchObject({
      filtered_count_min: RECORDS,
      limit: 10000,
      offset: 0,
      is_partial_scan: false,
    });
    expect(typeof all.entries_processed).toBe("number");
    expect(all.entries_processed as number).toBeGreaterThanOrEqual(RECORDS);
    expect(all.total_log_count_estimate).toMatch(/^\d+$/);
    expect(all.next_cursor).toBeNull();
  });

  test("offset skips that many matches, then limit; filtered_count_min is what was seen", async () => {
    const all = (await page("level=DEBUG&limit=10000")).entries.map((e) => e.id);
    for (const [offset, limit] of [
      [0, 5],
      [3, 7],
      [all.length - 2, 5],
      [all.length + 10, 5],
    ] as const) {
      const got = await page(`level=DEBUG&offset=${offset}&limit=${limit}`);
      expect(got.entries.map((e) => e.id)).toEqual(all.slice(offset, offset + limit));
      expect(got).toMatchObject({ offset, limit, filtered_count_min: got.entries.length + offset });
    }
  });

  test("offset and the cursor combine: the cursor's page continues, offset skips within it", async () => {
    const all = (await page("limit=10000")).entries.map((e) => e.id);
    const first = await page("limit=10");
    const next = await page(`limit=5&offset=2&cursor=${first.next_cursor}`);
    expect(next.entries.map((e) => e.id)).toEqual(all.slice(12, 17));
  });

  const refused: Array<[string, string, string]> = [
    ["a negative offset", "offset=-1", "offset"],
    ["a limit of 0", "limit=0", "limit"],
    ["a PR number that is not one", "pr_number=abc", "pr_number"],
    ["a naive start_time (the original answers 500)", "start_time=2026-12-02T04:45:00", "start_time"],
    ["a start_time that is not a time", "start_time=soon", "start_time"],
  ];
  for (const [name, query, field] of refused)
    test(`${name} is a 400 naming the field, with detail`, async () => {
      const { status, body } = await get(`/logs/api/entries?${query}`);
      expect(status).toBe(400);
      expect(body.field).toBe(field);
      expect(typeof body.detail).toBe("string");
      expect(body.detail).toBe(body.error);
    });
});

describe("GET /logs/api/export", () => {
  test("without a format: the original's document, as an attachment", async () => {
    const { status, body, response } = await get("/logs/api/export?level=ERROR&limit=3");
    expect(status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(response.headers.get("content-disposition")).toMatch(
      /^attachment; filename=webhook_logs_\d{8}_\d{6}\.json$/,
    );
    const metadata = body.export_metadata as Record<string, unknown>;
    expect(Object.keys(metadata).sort()).toEqual([
      "export_format",
      "filters_applied",
      "generated_at",
      "total_entries",
    ]);
    expect(metadata).toMatchObject({
      filters_applied: { level: "ERROR", limit: 3 },
      total_entries: 3,
      export_format: "json",
    });
    const entries = body.log_entries as Entry[];
    expect(entries.map((e) => e.level)).toEqual(["ERROR", "ERROR", "ERROR"]);
    for (const key of ENTRY_KEYS) expect(entries[0]).toHaveProperty(key);
  });

  test("format_type=json and the original page's format=json give the same document", async () => {
    const a = (await get(`/logs/api/export?format_type=json&hook_id=${HOOK}`)).body;
    const b = (await get(`/logs/api/export?format=json&hook_id=${HOOK}`)).body;
    expect(a.log_entries).toEqual(b.log_entries);
    expect((a.export_metadata as { total_entries: number }).total_entries).toBe(
      (a.log_entries as unknown[]).length,
    );
    expect((a.export_metadata as { filters_applied: unknown }).filters_applied).toEqual({
      hook_id: HOOK,
      limit: 1_000_000,
    });
  });

  test("NDJSON is kept, under either name", async () => {
    for (const query of ["format=ndjson", "format_type=ndjson"]) {
      const response = await fetch(server.httpUrl(`/logs/api/export?${query}&pr_number=1194`));
      expect(response.headers.get("content-type")).toContain("application/x-ndjson");
      const lines = (await response.text()).trimEnd().split("\n");
      const entries = lines.map((line) => JSON.parse(line) as Entry);
      expect(entries.every((e) => e.pr_number === 1194)).toBe(true);
    }
  });

  const refused: Array<[string, string, string]> = [
    ["a format the original does not know", "format_type=xml", "format_type"],
    ["format and format_type that disagree", "format=json&format_type=ndjson", "format_type"],
    ["a limit past the export bound", "limit=1000001", "limit"],
  ];
  for (const [name, query, field] of refused)
    test(`${name} is a 400 naming the field, with detail`, async () => {
      const { status, body } = await get(`/logs/api/export?${query}`);
      expect(status).toBe(400);
      expect(body.field).toBe(field);
      expect(typeof body.detail).toBe("string");
    });
});

describe("GET /logs/api/pr-flow/{id}", () => {
  const STAGES = [
    "Webhook Received",
    "Validation Complete",
    "Reviewers Assigned",
    "Labels Applied",
    "Checks Started",
    "Checks Complete",
    "Processing Complete",
  ];
  for (const id of [`hook-${HOOK}`, HOOK, "pr-1194", "1194"])
    test(`the id form ${id.startsWith("hook-") ? "hook-<id>" : id === HOOK ? "<hook id>" : id} answers the stages`, async () => {
      const { status, body } = await get(`/logs/api/pr-flow/${id}`);
      expect(status).toBe(200);
      expect(body.identifier).toBe(id);
      const stages = body.stages as Array<{ name: string; timestamp: string; duration_ms: number | null }>;
      // A PR's entries start once the processor knows the PR, after the request lines ("Processing webhook").
      const expected = id.startsWith("hook-") || id === HOOK ? STAGES : STAGES.slice(2);
      expect(stages.map((s) => s.name)).toEqual(expected);
      expect(typeof body.total_duration_ms).toBe("number");
      expect(body.success).toBe(true);
      expect(body).not.toHaveProperty("error");
    });

  test("a failed delivery's flow is unsuccessful and names its first error", async () => {
    const { body } = await get(`/logs/api/pr-flow/hook-${FAILED_HOOK}`);
    expect(body.success).toBe(false);
    expect(body.error).toStartWith("Failed to run 'git -C /tmp/github-webhook-mtv-api-tests-");
  });

  test("an unknown id is a 404 with the original's sentence; pr-abc a 400", async () => {
    const unknown = await get("/logs/api/pr-flow/hook-nope");
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toBe("No data found for hook_id: hook-nope");
    const bad = await get("/logs/api/pr-flow/pr-abc");
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toBe('"pr-abc" is not a flow id: after "pr-" comes a PR number');
  });
});

describe("GET /logs/api/workflow-steps/{hook_id}", () => {
  test("from the webhook_summary: the original's keys, steps in time order", async () => {
    const { status, body } = await get(`/logs/api/workflow-steps/${HOOK}`);
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(
      [
        "hook_id",
        "start_time",
        "total_duration_ms",
        "step_count",
        "steps",
        "token_spend",
        "event_type",
        "action",
        "repository",
        "sender",
        "pr",
        "success",
        "error",
      ].sort(),
    );
    expect(body).toMatchObject({
      hook_id: HOOK,
      start_time: "2026-12-02T04:45:23.296762+00:00",
      total_duration_ms: 282,
      step_count: 3,
      token_spend: 12,
      action: "opened",
      sender: "rnetser",
      pr: { number: 1194, title: "feat: add hookstream log export", author: "rnetser" },
      success: true,
      error: null,
    });
    const steps = body.steps as Array<Record<string, unknown>>;
    expect(steps.map((s) => [s.step_name, s.message, s.level, s.relative_time_ms])).toEqual([
      ["webhook_routing", "webhook_routing: completed (261ms)", "INFO", 18],
      ["repo_clone", "repo_clone: completed (105ms)", "INFO", 70],
      ["pr_handler", "pr_handler: completed (102ms)", "INFO", 176],
    ]);
    expect(steps[1]?.step_details).toEqual({
      timestamp: "2026-12-02T04:45:23.366921+00:00",
      status: "completed",
      error: null,
      duration_ms: 105,
      checkout_ref: "origin/pr/1194",
    });
  });

  test("a failed step is an ERROR step with its error's message", async () => {
    const steps = (await get(`/logs/api/workflow-steps/${FAILED_HOOK}`)).body.steps as Array<
      Record<string, unknown>
    >;
    expect(steps.map((s) => [s.task_status, s.level, s.message])).toEqual([
      ["started", "DEBUG", "webhook_routing: started"],
      ["failed", "ERROR", "repo_clone: failed - Clone failed"],
    ]);
  });

  test("without a summary: steps from the tagged text lines", async () => {
    const { status, body } = await get("/logs/api/workflow-steps/7a66ed00-0000");
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual([
      "hook_id",
      "start_time",
      "step_count",
      "steps",
      "total_duration_ms",
    ]);
    expect(
      (body.steps as Array<Record<string, unknown>>).map((s) => [
        s.task_id,
        s.task_status,
        s.relative_time_ms,
      ]),
    ).toEqual([
      ["webhook_routing", "started", 0],
      ["repo_clone", "completed", 250],
      ["pr_handler", "failed", 300],
    ]);
  });

  test("a malformed summary falls back to the text lines, and says why there are no steps", async () => {
    const { status, body } = await get("/logs/api/workflow-steps/bad5ummary-0000");
    expect(status).toBe(404);
    expect(body.detail).toBe(
      "No workflow steps found for hook ID: bad5ummary-0000 (its webhook_summary is malformed: timing lacks started_at or duration_ms)",
    );
  });

  test("an unknown hook is a 404 with the original's sentence", async () => {
    const { status, body } = await get("/logs/api/workflow-steps/nope");
    expect(status).toBe(404);
    expect(body.detail).toBe("No data found for hook ID: nope");
  });
});

describe("GET /logs/api/step-logs/{hook_id}/{step}", () => {
  test("the step and the hook's lines inside its window, newest first", async () => {
    const { status, body } = await get(`/logs/api/step-logs/${HOOK}/repo_clone`);
    expect(status).toBe(200);
    expect(body.step).toEqual({
      name: "repo_clone",
      status: "completed",
      timestamp: "2026-12-02T04:45:23.366921+00:00",
      duration_ms: 105,
      error: null,
    });
    const logs = body.logs as Entry[];
    expect(body.log_count).toBe(logs.length);
    expect(logs.map((e) => e.message)).toEqual([
      "Repository cloned to /tmp/github-webhook-github-webhook-server-ah51p302 (ref: origin/pr/1194)",
      "Running 'git -C /tmp/github-webhook-github-webhook-server-ah51p302 checkout origin/pr/1194' command",
      "Running 'git -C /tmp/github-webhook-github-webhook-server-ah51p302 fetch origin +refs/pull/1194/head:refs/remotes/origin/pr/1194' command",
      "Running 'git -C /tmp/github-webhook-github-webhook-server-ah51p302 fetch origin main' command",
      "Running 'git -C /tmp/github-webhook-github-webhook-server-ah51p302 config user.email 'myk-org@users.noreply.github.com'' command",
      "Running 'git -C /tmp/github-webhook-github-webhook-server-ah51p302 config user.name 'myk-org'' command",
      "Running 'git clone https://***REDACTED***@github.com/myk-org/github-webhook-server.git /tmp/github-webhook-github-webhook-server-ah51p302' command",
    ]);
    for (const key of ENTRY_KEYS) expect(logs[0]).toHaveProperty(key);
  });

  const answers: Array<[string, string, number, string]> = [
    ["an unknown hook", "nope/repo_clone", 404, "No JSON log entry found for hook ID: nope"],
    ["an unknown step", `${HOOK}/deploy`, 404, `Step 'deploy' not found for hook ID: ${HOOK}`],
    [
      "a malformed summary (the original answers 500)",
      "bad5ummary-0000/webhook_routing",
      422,
      "The webhook_summary of hook bad5ummary-0000 is malformed: timing lacks started_at or duration_ms",
    ],
    [
      "a step name over 100 characters",
      `${HOOK}/${"x".repeat(101)}`,
      400,
      "step must be 1 to 100 characters",
    ],
  ];
  for (const [name, path, status, detail] of answers)
    test(`${name} is a ${status} with a sentence`, async () => {
      const got = await get(`/logs/api/step-logs/${path}`);
      expect(got.status).toBe(status);
      expect(got.body.detail).toBe(detail);
    });
});

describe("the original page's requests, replayed", () => {
  // What log_viewer.js sends: the entries query with its filters and limit, the PR modal's hook list, the flow
  // modal's steps and a step's logs, and the Export JSON download.
  const requests: Array<[string, number, string[]]> = [
    ["/logs/api/entries?limit=100", 200, ENTRIES_KEYS],
    ["/logs/api/entries?limit=500&level=ERROR&search=failed", 200, ENTRIES_KEYS],
    [`/logs/api/entries?limit=1000&hook_id=${HOOK}`, 200, ENTRIES_KEYS],
    ["/logs/api/entries?limit=100&repository=mtv-api-tests&github_user=myakove-bot", 200, ENTRIES_KEYS],
    [
      "/logs/api/entries?limit=100&start_time=2026-12-02T04%3A45%3A24.000Z&end_time=2026-12-02T04%3A45%3A25.000Z",
      200,
      ENTRIES_KEYS,
    ],
    ["/logs/api/entries?pr_number=1194&limit=10000", 200, ENTRIES_KEYS],
    [`/logs/api/workflow-steps/${HOOK}`, 200, ["hook_id", "steps", "step_count", "total_duration_ms"]],
    [`/logs/api/step-logs/${HOOK}/pr_handler`, 200, ["step", "logs", "log_count"]],
    ["/logs/api/export?level=ERROR&format=json&limit=1000", 200, ["export_metadata", "log_entries"]],
  ];
  for (const [path, status, keys] of requests)
    test(`${path.slice(0, 90)} answers ${status} with the keys the page reads`, async () => {
      const got = await get(path);
      expect(got.status).toBe(status);
      for (const key of keys) expect(got.body).toHaveProperty(key);
    });

  test("the PR modal's hook list: the distinct hook ids of a PR", async () => {
    const { body } = await get("/logs/api/entries?pr_number=1194&limit=10000");
    const hooks = new Set((body.entries as Entry[]).map((e) => e.hook_id));
    expect(hooks).toEqual(new Set([HOOK]));
  });
});

describe("every error of the log APIs has detail", () => {
  test("an unknown API path, and a refusal for want of LOGS_TOKEN", async () => {
    const unknown = await get("/logs/api/nope");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: "Not found", detail: "Not found" });
    await using guarded = await startTestServer({ env: { LOGS_TOKEN: "history-test-token-0123456789" } });
    const refused = await fetch(guarded.httpUrl("/logs/api/entries"));
    expect(refused.status).toBe(401);
    const body = (await refused.json()) as Record<string, unknown>;
    expect(body.detail).toBe(body.error as string);
    expect(typeof body.detail).toBe("string");
  });
});
