import { describe, expect, test } from "bun:test";
import type { LogEntry } from "../../src/logs/entry.ts";
import { rawEntry } from "../../src/logs/parse.ts";
import { redactEntry, redactSecrets } from "../../src/logs/redact.ts";

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
    ["an upper-case token prefix is masked", "GHP_16C7e42F292c6912E7710c838347Ae178B4a", "GHP_*****"],
    ["a mixed-case token prefix is masked", "Ghs_16C7e42F292c6912E7710c838347Ae178B4a", "Ghs_*****"],
    [
      "a URL-encoded underscore still masks the token",
      "q=ghp%5F16C7e42F292c6912E7710c838347Ae178B4a",
      "q=ghp%5F*****",
    ],
    [
      "a lower-case URL-encoded underscore still masks the token",
      "ghp%5f16C7e42F292c6912E7710c838347Ae178B4a",
      "ghp%5f*****",
    ],
    [
      "a token right after a URL escape is masked",
      "x%3Dghp_16C7e42F292c6912E7710c838347Ae178B4a",
      "x%3Dghp_*****",
    ],
    [
      "an upper-case fine-grained token is masked",
      "GITHUB_PAT_11ABCDEFG0123456789_abcdefghij",
      "GITHUB_PAT_*****",
    ],
    [
      "a URL-encoded fine-grained token is masked whole",
      "github_pat%5F11ABCDEFG0123456789%5Fabcdefghij",
      "github_pat%5F*****",
    ],
    [
      "an upper-case scheme keeps its case and loses its credential",
      "Authorization: BEARER abc",
      "Authorization: BEARER *****",
    ],
    ["an upper-case header name is masked too", "AUTHORIZATION: token abc", "AUTHORIZATION: token *****"],
    [
      "a URL-encoded Authorization header is masked",
      "h=Authorization%3A%20Bearer%20abcdef0123",
      "h=Authorization%3A%20Bearer%20*****",
    ],
    [
      "an Authorization query parameter with a + space is masked",
      "authorization=Bearer+abc",
      "authorization=Bearer+*****",
    ],
    ["an upper-case TOKEN= is masked", "TOKEN=0123456789abcdef0123456789", "TOKEN=*****"],
    [
      "a variable ending in _TOKEN is masked",
      "GITHUB_TOKEN=0123456789abcdef0123456789",
      "GITHUB_TOKEN=*****",
    ],
    [
      "an access_token parameter is masked",
      "?access_token=0123456789abcdef0123456789&x=1",
      "?access_token=*****&x=1",
    ],
    [
      "a URL-encoded token= is masked",
      "next%3Fa%26token%3D0123456789abcdef0123456789",
      "next%3Fa%26token%3D*****",
    ],
    [
      "the key token_spend is not a token",
      '{"token_spend":23,"x":"0123456789abcdef0123456789"}',
      '{"token_spend":23,"x":"0123456789abcdef0123456789"}',
    ],
    [
      "a token starting a line of a serialised message is masked",
      '{"m":"Traceback\\nghp_16C7e42F292c6912E7710c838347Ae178B4a"}',
      '{"m":"Traceback\\nghp_*****"}',
    ],
    [
      "a token= after a tab of a serialised message is masked",
      '{"m":"a\\ttoken=0123456789abcdef0123456789"}',
      '{"m":"a\\ttoken=*****"}',
    ],
    [
      "an Authorization header starting a line of a serialised message is masked",
      '{"m":"headers:\\nAuthorization: Bearer abc"}',
      '{"m":"headers:\\nAuthorization: Bearer *****"}',
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

  test("a long run of separators after a keyword is scanned in linear time", () => {
    for (const keyword of ["token", "authorization:", "authorization", "token%3D", "ghp_"]) {
      for (const separator of [" ", "%20", "+"]) {
        const started = performance.now();
        redactSecrets(`${keyword}${separator.repeat(200_000)},`);
        const fast = performance.now() - started < 500;
        expect({ keyword, separator, fast }).toEqual({ keyword, separator, fast: true });
      }
    }
  });

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
