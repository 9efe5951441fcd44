import { describe, expect, test } from "bun:test";
import type { LogEntry } from "../src/logs/entry.ts";
import { rawEntry } from "../src/logs/parse.ts";
import { redactEntry, redactSecrets } from "../src/logs/redact.ts";

describe("redactSecrets", () => {
  const cases: Array<[string, string, string]> = [
    [
      "a personal access token keeps only its prefix",
      "using ghp_16C7e42F292c6912E7710c838347Ae178B4a now",
      "using ghp_***** now",
    ],
    ["an app installation token is masked", "ghs_16C7e42F292c6912E7710c838347Ae178B4a", "ghs_*****"],
    ["an OAuth token is masked", "gho_16C7e42F292c6912E7710c838347Ae178B4a", "gho_*****"],
    ["a user-to-server token is masked", "ghu_16C7e42F292c6912E7710c838347Ae178B4a", "ghu_*****"],
    [
      "a fine-grained token is masked",
      "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
      "github_pat_*****",
    ],
    [
      "a bearer Authorization header is masked",
      "Authorization: Bearer abc.def.ghi",
      "Authorization: Bearer *****",
    ],
    [
      "a token Authorization header is masked",
      "authorization: token 0123456789abcdef",
      "authorization: token *****",
    ],
    [
      "an Authorization value inside serialised JSON stays valid JSON",
      '{"m":"Authorization: Basic dXNlcjpwYXNz"}',
      '{"m":"Authorization: Basic *****"}',
    ],
    [
      "a long value after the word token is masked",
      "token 0123456789abcdef0123456789abcdef01234567",
      "token *****",
    ],
    ["token= forms are masked", "url?token=0123456789abcdefghij0123", "url?token=*****"],
    [
      "a token field of a JSON body is masked",
      '{"token": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"}',
      '{"token": "*****"}',
    ],
    [
      "a token field of JSON inside serialised JSON is masked",
      '{"m":"{\\"token\\":\\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b\\"}"}',
      '{"m":"{\\"token\\":\\"*****\\"}"}',
    ],
    ["an already masked token is left as written", "token *****  23 API calls", "token *****  23 API calls"],
    ["prose about tokens is left alone", "token expired, refreshing", "token expired, refreshing"],
    [
      "a line without secrets is returned as is",
      "Processing webhook for acme/widgets",
      "Processing webhook for acme/widgets",
    ],
  ];
  for (const [name, input, output] of cases) {
    test(name, () => expect(redactSecrets(input)).toBe(output));
  }

  test("masking serialised JSON never breaks it", () => {
    const json = JSON.stringify({
      message: 'Authorization: "token ghp_16C7e42F292c6912E7710c838347Ae178B4a"',
      x: 1,
    });
    expect(() => JSON.parse(redactSecrets(json))).not.toThrow();
    expect(redactSecrets(json)).not.toContain("16C7e42F");
  });
});

describe("redactEntry", () => {
  test("an entry with nothing to mask is returned as it is", () => {
    const entry = rawEntry("Processing webhook for acme/widgets", "2026-11-23T10:00:00Z");
    expect(redactEntry(entry)).toBe(entry);
  });
  test("every field is masked as its serialised form would be, nested summary details too", () => {
    const entry: LogEntry = {
      ...rawEntry("cloning with ghp_16C7e42F292c6912E7710c838347Ae178B4a", "2026-11-23T10:00:00Z"),
      github_user: "token=0123456789abcdefghij0123",
      summary: {
        action: null,
        success: false,
        pr_title: null,
        started_at: null,
        completed_at: null,
        duration_ms: null,
        workflow_steps: [{ headers: { Authorization: "Bearer abc.def" } }],
        error: null,
      },
    };
    expect(redactEntry(entry)).toEqual(JSON.parse(redactSecrets(JSON.stringify(entry))) as LogEntry);
    expect(JSON.stringify(redactEntry(entry))).not.toMatch(/16C7e42F|0123456789abcdefghij|abc\.def/);
  });
});
