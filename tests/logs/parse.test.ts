import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createLineAssembler } from "../../src/logs/assemble.ts";
import type { LogEntry } from "../../src/logs/entry.ts";
import { formatOfFile, isLogFileName, parseJsonLine, parseTextLine } from "../../src/logs/parse.ts";
import { seededRandom } from "../helpers/random.ts";

const options = { naiveZone: "Z" };
const NOW = "2026-11-23T00:00:00.000Z";
const ESC = "\u001b";

/** Runs lines through the assembler of a file format, flushing at the end as the follower does. */
function assemble(format: "text" | "json", lines: string[]): LogEntry[] {
  const out: LogEntry[] = [];
  const assembler = createLineAssembler(format, options, (entry) => out.push(entry));
  for (const line of lines) assembler.push(line, NOW);
  assembler.flush();
  return out;
}

describe("parseTextLine", () => {
  const cases: Array<[string, string, Partial<LogEntry> | null]> = [
    [
      "a line with webhook context yields repository, event, hook and user",
      "2025-07-31T10:30:00.123000 GithubWebhook INFO test-repo [pull_request][abc123-def456][test-user]: Processing webhook",
      {
        timestamp: "2025-07-31T10:30:00.123000+00:00",
        level: "INFO",
        logger_name: "GithubWebhook",
        repository: "test-repo",
        event_type: "pull_request",
        hook_id: "abc123-def456",
        github_user: "test-user",
        pr_number: null,
        message: "Processing webhook",
      },
    ],
    [
      "the optional [PR n] part gives pr_number as a number",
      "2025-07-31T11:15:30.456000 GithubWebhook DEBUG test-repo [pull_request.opened][xyz789][test-user][PR 123]: Processing webhook",
      { pr_number: 123, event_type: "pull_request.opened", level: "DEBUG", message: "Processing webhook" },
    ],
    [
      "a line without context keeps the whole message and null context fields",
      "2025-07-31T12:45:00.789000 helpers WARNING API rate limit remaining: 1500",
      {
        logger_name: "helpers",
        level: "WARNING",
        message: "API rate limit remaining: 1500",
        hook_id: null,
        repository: null,
      },
    ],
    [
      "ANSI colours around level and repository are stripped",
      `2025-07-21T06:05:53.415209 GithubWebhook ${ESC}[36mDEBUG${ESC}[0m ${ESC}[38;5;160mgithub-webhook-server${ESC}[0m [check_run][96d21c70][myakove-bot][PR 825]: Changed files: ['uv.lock']${ESC}[0m`,
      {
        level: "DEBUG",
        repository: "github-webhook-server",
        pr_number: 825,
        message: "Changed files: ['uv.lock']",
      },
    ],
    [
      "escaped brackets inside task tags are unescaped and the tags leave the message",
      "2025-07-31T10:00:00.000000 GithubWebhook INFO test-repo [pull_request][hook1][user]: [task_id=test\\[id\\]] [task_type=ci\\]check] [task_status=started] Message",
      {
        task_id: "test[id]",
        task_type: "ci]check",
        task_status: "started",
        message: "Message",
        hook_id: "hook1",
      },
    ],
    [
      "escaped brackets inside context values are unescaped",
      "2025-07-31T10:00:00.000000 GithubWebhook INFO org/repo [push][hook\\[1\\]][user]: ok",
      { hook_id: "hook[1]", message: "ok" },
    ],
    [
      "a masked token in the message is kept as written",
      "2025-11-07T14:43:56.299809 GithubWebhook INFO github-webhook-server [issue_comment][6143a030][myakove-bot][PR 890]: token *****  23 API calls",
      { message: "token *****  23 API calls", pr_number: 890 },
    ],
    [
      "a non-numeric [PR abc] breaks the context pattern, so every context field is null",
      "2025-07-31T10:00:00.000000 GithubWebhook INFO test-repo [pull_request][hook1][user][PR abc]: Invalid PR number",
      {
        hook_id: null,
        github_user: null,
        repository: null,
        pr_number: null,
        message: "test-repo [pull_request][hook1][user][PR abc]: Invalid PR number",
      },
    ],
    [
      "an explicit offset is written as the same instant in UTC",
      "2026-01-01T00:00:00+02:00 app ERROR boom",
      { timestamp: "2025-12-31T22:00:00+00:00", level: "ERROR", message: "boom" },
    ],
    [
      "a Z zone is written +00:00, the fraction kept as the source wrote it",
      "2026-01-01T00:00:00.5Z app INFO ok",
      { timestamp: "2026-01-01T00:00:00.5+00:00" },
    ],
    [
      "the processor's request-line prefix gives event and hook id, with an uncoloured repository",
      "2026-12-02T04:45:23.303382+00:00 webhook-server.log \u001b[32mINFO\u001b[0m github-webhook-server [pull_request][2f6d20ce-ee0b]: Processing webhook\u001b[0m",
      {
        repository: "github-webhook-server",
        event_type: "pull_request",
        hook_id: "2f6d20ce-ee0b",
        github_user: null,
        message: "Processing webhook",
      },
    ],
    [
      "the processor's request-line prefix with an empty repository leaves the repository null",
      "2026-12-02T04:45:23.293022+00:00 webhook-server.log \u001b[32mINFO\u001b[0m  [push][2ff1d40e]: Signature verification successful\u001b[0m",
      {
        repository: null,
        event_type: "push",
        hook_id: "2ff1d40e",
        message: "Signature verification successful",
      },
    ],
    [
      "a bracketed word that is not a prefix stays in the message",
      "2026-12-02T04:45:23.313405+00:00 webhook-server.log DEBUG [myakove-bot] API rate limit: Current 3668 of 5000",
      { hook_id: null, event_type: null, message: "[myakove-bot] API rate limit: Current 3668 of 5000" },
    ],
    ["a line without a timestamp does not start a record", "Traceback (most recent call last):", null],
    ["an empty line does not start a record", "", null],
    ["a date without a time does not start a record", "2025-07-31 - incomplete", null],
    ["an impossible date does not start a record", "2025-13-45T25:70:99 app ERROR x", null],
    [
      "a timestamp with a comma and spaces does not start a record",
      "2025-13-45 25:70:99,999 - invalid - ERROR - Invalid timestamp",
      null,
    ],
  ];
  for (const [name, line, expected] of cases) {
    test(name, () => {
      const entry = parseTextLine(line, options);
      if (expected === null) expect(entry).toBeNull();
      else expect(entry).toMatchObject(expected);
    });
  }

  test("a naive timestamp gets the configured zone", () => {
    expect(parseTextLine("2026-01-01T00:00:00.000001 app INFO x", { naiveZone: "+05:30" })?.timestamp).toBe(
      "2025-12-31T18:30:00.000001+00:00",
    );
  });
});

describe("parseJsonLine", () => {
  const cases: Array<[string, string, Partial<LogEntry>]> = [
    [
      "a log_entry record maps api_user to github_user",
      '{"type": "log_entry", "timestamp": "2026-03-15T12:00:00+00:00", "level": "WARNING", "logger_name": "PullRequestHandler", "message": "PR labels updated", "hook_id": "delivery-999", "event_type": "pull_request", "repository": "org/my-repo", "pr_number": 77, "api_user": "bot-user"}',
      {
        timestamp: "2026-03-15T12:00:00+00:00",
        level: "WARNING",
        logger_name: "PullRequestHandler",
        message: "PR labels updated",
        hook_id: "delivery-999",
        pr_number: 77,
        github_user: "bot-user",
      },
    ],
    [
      "task tags inside a log_entry message become task fields",
      '{"type": "log_entry", "timestamp": "2026-03-15T12:00:00+00:00", "level": "INFO", "logger_name": "GithubWebhook", "message": "[task_id=check_tox] [task_type=ci_check] [task_status=started] Running tox checks"}',
      { task_id: "check_tox", task_type: "ci_check", task_status: "started", message: "Running tox checks" },
    ],
    [
      "a log_entry without context fields gives nulls and a naive timestamp gets the zone",
      '{"type": "log_entry", "timestamp": "2025-07-31T10:00:00", "level": "INFO", "logger_name": "GithubWebhook", "message": "naive tz test"}',
      {
        timestamp: "2025-07-31T10:00:00+00:00",
        hook_id: null,
        repository: null,
        pr_number: null,
        github_user: null,
      },
    ],
    [
      "exc_info joins the message",
      '{"type": "log_entry", "timestamp": "2026-03-15T12:00:00Z", "level": "ERROR", "message": "failed", "exc_info": "Traceback\\n  boom"}',
      { message: "failed\nTraceback\n  boom", level: "ERROR" },
    ],
    [
      "a summary without type is a webhook_summary timed by timing.started_at",
      '{"hook_id": "hook2", "event_type": "pull_request", "action": "opened", "repository": "org/repo2", "api_user": "user2", "level": "COMPLETED", "success": true, "timing": {"started_at": "2025-07-31T10:01:00Z"}, "pr": {"number": 123}}',
      {
        timestamp: "2025-07-31T10:01:00+00:00",
        level: "COMPLETED",
        logger_name: "webhook_summary",
        hook_id: "hook2",
        pr_number: 123,
        github_user: "user2",
        message: "Webhook pull_request (opened) succeeded",
      },
    ],
    [
      "a failed summary names its error, keeps the steps and the token spend",
      '{"type": "webhook_summary", "hook_id": "h", "event_type": "pull_request", "sender": "test-user", "timing": {"started_at": "2025-01-05T10:00:00.000000Z", "duration_ms": 5000}, "workflow_steps": {"clone": {"status": "completed"}}, "token_spend": 35, "success": false, "error": {"type": "TestError", "message": "boom"}}',
      {
        level: "COMPLETED",
        github_user: "test-user",
        token_spend: 35,
        message: "Webhook pull_request failed in 5000 ms: TestError: boom",
      },
    ],
    [
      "a space between date and time becomes a T",
      '{"type": "log_entry", "timestamp": "2026-01-01 10:00:00.5", "message": "m"}',
      { timestamp: "2026-01-01T10:00:00.5+00:00" },
    ],
    [
      "an offset without a colon is read as the same instant in UTC",
      '{"type": "log_entry", "timestamp": "2026-01-01T10:00:00+0200", "message": "m"}',
      { timestamp: "2026-01-01T08:00:00+00:00" },
    ],
    [
      "a UTC time with a space and the processor's zone still becomes the one form",
      '{"type": "log_entry", "timestamp": "2026-01-01 10:00:00.25+00:00", "message": "m"}',
      { timestamp: "2026-01-01T10:00:00.25+00:00" },
    ],
    [
      "-00:00 is written +00:00",
      '{"type": "log_entry", "timestamp": "2026-01-01T10:00:00.25-00:00", "message": "m"}',
      { timestamp: "2026-01-01T10:00:00.25+00:00" },
    ],
    [
      "the processor's own form with an impossible month is no timestamp (a raw entry)",
      '{"type": "log_entry", "timestamp": "2026-13-01T10:00:00.250000+00:00", "message": "m"}',
      { level: "UNKNOWN" },
    ],
    [
      "the processor's prefix leaves the JSON message; an empty api_user takes the prefix's user",
      '{"type": "log_entry", "timestamp": "2026-12-02T04:45:23.9+00:00", "level": "ERROR", "logger_name": "webhook-server.log", "message": "mtv-api-tests [pull_request][308eb698][myakove-bot][PR 412]: Failed to fetch\\n", "hook_id": "308eb698", "event_type": "pull_request", "repository": "mtv-api-tests", "pr_number": 412, "api_user": ""}',
      {
        message: "Failed to fetch",
        repository: "mtv-api-tests",
        github_user: "myakove-bot",
        pr_number: 412,
        hook_id: "308eb698",
      },
    ],
    [
      "the JSON copy of a request line gets its hook id from the short prefix",
      '{"type": "log_entry", "timestamp": "2026-12-02T04:45:23.293022+00:00", "level": "INFO", "logger_name": "webhook-server.log", "message": " [push][2ff1d40e]: Processing webhook"}',
      { hook_id: "2ff1d40e", event_type: "push", repository: null, message: "Processing webhook" },
    ],
    [
      "a JSON field that has a value keeps it over the prefix's",
      '{"type": "log_entry", "timestamp": "2026-12-02T04:45:23+00:00", "message": "repo-a [push][h1][alice]: x", "repository": "org/repo-a", "api_user": "bob"}',
      { repository: "org/repo-a", github_user: "bob", hook_id: "h1", message: "x" },
    ],
    [
      "a timestamp followed by anything else is not a timestamp",
      '{"type": "log_entry", "timestamp": "2026-01-01T10:00:00 later", "message": "m"}',
      { level: "UNKNOWN" },
    ],
    [
      "a fraction point without digits is not a timestamp",
      '{"type": "log_entry", "timestamp": "2026-01-01T10:00:00.Z", "message": "m"}',
      { level: "UNKNOWN" },
    ],
    [
      "invalid JSON is streamed raw",
      "this is not valid json",
      { level: "UNKNOWN", message: "this is not valid json", timestamp: NOW },
    ],
    [
      "a truncated record is streamed raw",
      "{incomplete json",
      { level: "UNKNOWN", message: "{incomplete json" },
    ],
    [
      "a record without any timestamp is streamed raw",
      '{"missing_timestamp": true}',
      { level: "UNKNOWN", message: '{"missing_timestamp": true}' },
    ],
    [
      "a JSON value that is not an object is streamed raw",
      "[1,2,3]",
      { level: "UNKNOWN", message: "[1,2,3]" },
    ],
    [
      "an unknown record type is streamed raw",
      '{"type": "metrics", "timestamp": "2026-01-01T00:00:00Z"}',
      { level: "UNKNOWN" },
    ],
  ];
  for (const [name, line, expected] of cases) {
    test(name, () => {
      expect(parseJsonLine(line, options, NOW)).toMatchObject(expected);
    });
  }

  test("summary details carry the workflow steps", () => {
    const entry = parseJsonLine(
      '{"hook_id": "h", "timing": {"started_at": "2025-01-05T10:00:00Z"}, "workflow_steps": {"clone": {"status": "completed"}}, "pr": {"number": 4, "title": "T"}, "action": "opened", "success": true}',
      options,
      NOW,
    );
    expect(entry.summary).toMatchObject({
      workflow_steps: { clone: { status: "completed" } },
      pr_title: "T",
      action: "opened",
      success: true,
    });
  });
});

describe("assembling lines into entries", () => {
  test("a traceback joins the record that logged it", () => {
    const entries = assemble("text", [
      "2026-01-01T00:00:00 app ERROR org/r [push][h1][u]: crashed",
      "Traceback (most recent call last):",
      '  File "x.py", line 1, in <module>',
      "",
      "ValueError: bad",
      "2026-01-01T00:00:01 app INFO next",
    ]);
    expect(entries).toHaveLength(2);
    expect(entries[0]?.message).toBe(
      'crashed\nTraceback (most recent call last):\n  File "x.py", line 1, in <module>\n\nValueError: bad',
    );
    expect(entries[0]?.hook_id).toBe("h1");
    expect(entries[1]?.message).toBe("next");
  });

  test("a continuation arriving after a flush inherits the previous entry's context", () => {
    const out: LogEntry[] = [];
    const assembler = createLineAssembler("text", options, (entry) => out.push(entry));
    assembler.push("2026-01-01T00:00:00 app ERROR org/r [push][h1][u][PR 5]: crashed", NOW);
    assembler.flush();
    assembler.push("ValueError: late", NOW);
    assembler.flush();
    expect(out).toHaveLength(2);
    expect(out[1]).toMatchObject({
      message: "ValueError: late",
      level: "ERROR",
      hook_id: "h1",
      pr_number: 5,
    });
  });

  test("a line that continues nothing is streamed raw, not dropped", () => {
    const entries = assemble("text", ["no timestamp here"]);
    expect(entries).toEqual([
      expect.objectContaining({ level: "UNKNOWN", message: "no timestamp here", timestamp: NOW }),
    ]);
  });

  test("blank lines between records carry nothing", () => {
    expect(assemble("text", ["", "   "])).toHaveLength(0);
    expect(assemble("json", ["", "  "])).toHaveLength(0);
  });

  test("pretty-printed JSON records are gathered until their closing brace", () => {
    const entries = assemble("json", [
      "{",
      '  "hook_id": "pretty1",',
      '  "level": "COMPLETED",',
      '  "timing": {"started_at": "2025-07-31T10:00:00Z"}',
      "}",
      "",
      '{"type": "log_entry", "timestamp": "2026-01-01T00:00:00Z", "message": "flat"}',
    ]);
    expect(entries.map((e) => e.hook_id ?? e.message)).toEqual(["pretty1", "flat"]);
  });

  test("a brace block that never parses is streamed raw line by line", () => {
    const entries = assemble("json", ["{", "not json", "}"]);
    expect(entries.map((e) => [e.level, e.message])).toEqual([
      ["UNKNOWN", "{"],
      ["UNKNOWN", "not json"],
      ["UNKNOWN", "}"],
    ]);
  });

  test("a stray `{` is streamed raw and the records after it are still parsed", () => {
    const record = (n: number) =>
      `{"type": "log_entry", "timestamp": "2026-01-01T00:00:0${n}Z", "level": "INFO", "message": "r${n}"}`;
    const entries = assemble("json", ["{", record(1), record(2), "}", record(3)]);
    expect(entries.map((e) => [e.level, e.message])).toEqual([
      ["UNKNOWN", "{"],
      ["INFO", "r1"],
      ["INFO", "r2"],
      ["UNKNOWN", "}"],
      ["INFO", "r3"],
    ]);
  });

  test("a `{` never closed: past the block's bound the lines after it are parsed as records", () => {
    const record = (n: number) =>
      `{"type": "log_entry", "timestamp": "2026-01-01T00:00:00Z", "message": "r${n}"}`;
    const lines = ["{", ...Array.from({ length: 10_001 }, (_, n) => record(n))];
    const entries = assemble("json", lines);
    expect(entries).toHaveLength(10_002);
    expect(entries[0]).toMatchObject({ level: "UNKNOWN", message: "{" });
    expect(entries.filter((e) => e.level === "UNKNOWN")).toHaveLength(1);
    expect(entries.at(-1)?.message).toBe("r10000");
  });

  test("lines of lone `{` are each streamed raw once: reading a failed block again opens no block in it", () => {
    // Two blocks pass the bound and leave as 20,002 raw lines; the rest are held in a third. Opening blocks
    // while reading a failed one again would read each line once per block before it: seconds here, past
    // the test's timeout.
    const entries = assemble(
      "json",
      Array.from({ length: 30_000 }, () => "{"),
    );
    expect(entries).toHaveLength(20_002);
    expect(entries.every((e) => e.level === "UNKNOWN" && e.message === "{")).toBe(true);
  });

  test("generated text logs: every line that carries text reaches an entry once, in order, however reads end", () => {
    const random = seededRandom(5);
    const problems: string[] = [];
    for (let trial = 0; trial < 2_000; trial++) {
      // Records, traceback lines, blank lines; a read may end after any line (the follower then flushes).
      const lines = Array.from({ length: 1 + random(12) }, (_, i) => {
        const kind = random(6);
        if (kind < 3)
          return `2026-12-02T04:45:23.${String(i).padStart(6, "0")} webhook-server.log INFO r [e][h${i}][u]: msg ${i}`;
        if (kind === 3) return `Traceback line ${i}`;
        if (kind === 4) return random(2) === 0 ? "" : "   ";
        return `  File "x.py", line ${i}`;
      });
      const out: LogEntry[] = [];
      const assembler = createLineAssembler("text", options, (entry) => out.push(entry));
      for (const line of lines) {
        assembler.push(line, NOW);
        if (random(3) === 0) assembler.flush();
      }
      assembler.flush();
      const texts = (parts: string[]) => parts.map((t) => t.trimEnd()).filter((t) => t.trim().length > 0);
      const expected = texts(lines.map((l) => (l.startsWith("2026-") ? l.slice(l.indexOf("]: ") + 3) : l)));
      const got = texts(out.flatMap((e) => e.message.split("\n")));
      if (JSON.stringify(got) !== JSON.stringify(expected)) problems.push(JSON.stringify(lines));
    }
    expect(problems).toEqual([]);
  });

  test("a truncated line is marked", () => {
    const out: LogEntry[] = [];
    createLineAssembler("text", options, (entry) => out.push(entry)).pushTruncated("x".repeat(10), NOW);
    expect(out[0]).toMatchObject({ truncated: true, level: "UNKNOWN" });
  });
});

describe("file names", () => {
  const cases: Array<[string, boolean, "text" | "json"]> = [
    ["server.log", true, "text"],
    ["server.log.3", true, "text"],
    ["webhooks_2026-11-23.json", true, "json"],
    ["webhooks_2026-11-23.json.1", true, "json"],
    ["events.jsonl", true, "json"],
    ["server.log.1.gz", false, "text"],
    ["notes.txt", false, "text"],
    [".hidden.log", false, "text"],
  ];
  for (const [name, followed, format] of cases) {
    test(`${name} is ${followed ? "followed" : "ignored"}${followed ? ` as ${format}` : ""}`, () => {
      expect(isLogFileName(name)).toBe(followed);
      if (followed) expect(formatOfFile(name)).toBe(format);
    });
  }
});

describe("the project's own fixture files", () => {
  const dir = join(import.meta.dir, "../fixtures", "logs");
  test("every line of every fixture becomes an entry or joins one, and none is UNKNOWN unless expected", () => {
    const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as Record<
      string,
      { entries: number; unknown: number }
    >;
    for (const [file, counts] of Object.entries(expected)) {
      const lines = readFileSync(join(dir, file), "utf8").split("\n");
      if (lines.at(-1) === "") lines.pop();
      const entries = assemble(formatOfFile(file), lines);
      expect({
        file,
        entries: entries.length,
        unknown: entries.filter((e) => e.level === "UNKNOWN").length,
      }).toEqual({ file, ...counts });
    }
  });
});

const sharedFixtures = join(import.meta.dir, "..", "..", "..", "shared", "fixtures", "gws");
describe.skipIf(!existsSync(sharedFixtures))("the processor's own samples (../shared/fixtures/gws)", () => {
  // What each sample must yield: entries, and how many of them are raw (UNKNOWN).
  const expected: Record<string, { entries: number; unknown: number }> = {
    "01_text_log_lines.log": { entries: 8, unknown: 0 },
    "02_text_log_file_with_invalid_line.log": { entries: 5, unknown: 0 },
    "03_text_rejected_lines.txt": { entries: 3, unknown: 3 },
    "04_jsonl_log_entry.json": { entries: 3, unknown: 0 },
    "05_jsonl_webhook_summary_legacy.json": { entries: 3, unknown: 0 },
    "06_jsonl_mixed_valid_invalid.json": { entries: 5, unknown: 3 },
    "07_jsonl_mixed_types.json": { entries: 2, unknown: 0 },
    "08_json_pretty_printed_multiline.json": { entries: 2, unknown: 0 },
    "09_jsonl_webhook_summary_with_steps.json": { entries: 1, unknown: 0 },
    "10_text_step_window_lines.log": { entries: 3, unknown: 0 },
  };
  test("the table covers every sample file", () => {
    const samples = readdirSync(sharedFixtures).filter((f) => /^\d\d_/.test(f) && !f.startsWith("11_"));
    expect(samples.sort()).toEqual(Object.keys(expected).sort());
  });
  for (const [file, counts] of Object.entries(expected)) {
    test(`${file} yields ${counts.entries} entries, ${counts.unknown} raw`, () => {
      const lines = readFileSync(join(sharedFixtures, file), "utf8").split("\n");
      if (lines.at(-1) === "") lines.pop();
      const format = file.endsWith(".txt") ? "text" : formatOfFile(file);
      const entries = assemble(format, lines);
      expect(entries.length).toBe(counts.entries);
      expect(entries.filter((e) => e.level === "UNKNOWN").length).toBe(counts.unknown);
    });
  }
});
