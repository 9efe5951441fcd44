import { describe, expect, test } from "bun:test";
import { UsageError } from "../../src/clients/exit-codes.ts";
import { parseTailArgs } from "../../src/clients/tail-args.ts";
import { formatEntry, formatEntryJson, parseLogFrame } from "../../src/clients/tail-format.ts";
import { terminalSafe } from "../../src/clients/terminal-text.ts";

describe("tail flags", () => {
  const cases: Array<[string, string[], Record<string, string>, Record<string, unknown> | string]> = [
    [
      "no flags: the local server, no filter, live, colours allowed",
      [],
      {},
      { server: "http://localhost:5000/", query: {}, json: false, color: true, token: null },
    ],
    [
      "the six filters become the query parameters of /logs/ws",
      [
        "--hook-id",
        "h",
        "--pr-number",
        "12",
        "--repository",
        "o/r",
        "--event-type",
        "push",
        "--github-user",
        "u",
        "--level",
        "error",
      ],
      {},
      {
        query: {
          hook_id: "h",
          pr_number: "12",
          repository: "o/r",
          event_type: "push",
          github_user: "u",
          level: "error",
        },
      },
    ],
    ["--tail, -n and --since and --cursor are passed on", ["-n", "50"], {}, { query: { tail: "50" } }],
    [
      "--since is passed on as given",
      ["--since", "2026-11-23T10:00:00Z"],
      {},
      { query: { since: "2026-11-23T10:00:00Z" } },
    ],
    ["NO_COLOR set to anything turns colours off", [], { NO_COLOR: "1" }, { color: false }],
    ["an empty NO_COLOR leaves colours on", [], { NO_COLOR: "" }, { color: true }],
    ["--no-color turns colours off", ["--no-color"], {}, { color: false }],
    [
      "the token comes from LOGS_TOKEN unless --token names one",
      ["--token", "flag"],
      { LOGS_TOKEN: "env" },
      { token: "flag" },
    ],
    ["LOGS_TOKEN is used when no flag names one", [], { LOGS_TOKEN: "env" }, { token: "env" }],
    ["two starts are refused", ["--tail", "5", "--since", "2026-01-01"], {}, "use only one of"],
    ["a tail over 10000 is refused", ["--tail", "10001"], {}, "--tail must be an integer from 0 to 10000"],
    [
      "a PR number that is not a number is refused",
      ["--pr-number", "abc"],
      {},
      "--pr-number must be a positive integer",
    ],
    [
      "a since that is not a time is refused",
      ["--since", "yesterday"],
      {},
      "--since must be an ISO 8601 time",
    ],
    ["an unknown flag is refused", ["--repo", "x"], {}, "Unknown option"],
    ["a stray argument is refused", ["ERROR"], {}, 'unexpected argument "ERROR"'],
  ];
  for (const [name, argv, env, expected] of cases)
    test(name, () => {
      if (typeof expected === "string") {
        expect(() => parseTailArgs(argv, env)).toThrow(UsageError);
        expect(() => parseTailArgs(argv, env)).toThrow(expected);
      } else expect(parseTailArgs(argv, env)).toMatchObject(expected);
    });
});

describe("text made safe for a terminal", () => {
  const cases: Array<[string, string, string]> = [
    ["plain text, tabs and newlines are kept", "a\tb\nc", "a\tb\nc"],
    ["a colour sequence goes whole, not only its ESC", "\u001b[31mred\u001b[0m", "red"],
    ["a window-title OSC ended by BEL goes whole", "x\u001b]0;pwned\u0007y", "xy"],
    [
      "an OSC 8 hyperlink ended by ST goes whole",
      "\u001b]8;;http://evil\u001b\\link\u001b]8;;\u001b\\",
      "link",
    ],
    ["an unterminated OSC takes the rest of the text with it", "ok\u001b]52;c;Zm9v", "ok"],
    ["a cursor movement and a screen clear go", "a\u001b[2J\u001b[10;20Hb", "ab"],
    ["a two-character ESC sequence goes", "a\u001bcb", "ab"],
    ["a C1 CSI goes with its parameters", "a\u009b31mb", "ab"],
    ["carriage return, backspace, BEL and NUL go", "a\rb\bc\u0007d\u0000e", "abcde"],
    ["DEL and the other C1 controls go", "a\u007fb\u0085c\u009cd", "abcd"],
    ["a lone ESC at the end goes", "a\u001b", "a"],
    ["non-ASCII text is kept", "naïve ✓ 日本", "naïve ✓ 日本"],
  ];
  for (const [name, input, expected] of cases) test(name, () => expect(terminalSafe(input)).toBe(expected));

  test("without keepLines, newlines and tabs become spaces", () => {
    expect(terminalSafe("a\nb\tc", false)).toBe("a b c");
  });
});

/** Control characters other than tab and newline in the text (C0, DEL, C1). */
const controls = (text: string) =>
  [...text].filter((char) => {
    const code = char.charCodeAt(0);
    return (code < 0x20 && code !== 0x09 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f);
  });

const entry = {
  timestamp: "2026-11-23T10:00:00.000001Z",
  level: "ERROR",
  logger_name: "GithubWebhook",
  message: "boom",
  hook_id: "h1",
  event_type: "push",
  repository: "o/r",
  pr_number: 7,
  github_user: "u",
  cursor: "c1",
};

describe("printed entries", () => {
  test("a line has time, level, logger, repository with PR, context and message", () => {
    expect(formatEntry(entry, false)).toBe(
      "2026-11-23T10:00:00.000001Z ERROR     GithubWebhook o/r#7 [push][h1][u] boom",
    );
  });

  test("with colour the level is wrapped in its SGR code and reset", () => {
    expect(formatEntry(entry, true)).toContain("\u001b[31mERROR    \u001b[0m");
  });

  test("an entry without context prints no empty brackets", () => {
    const line = formatEntry(
      { ...entry, hook_id: null, event_type: null, repository: null, pr_number: null, github_user: null },
      false,
    );
    expect(line).toBe("2026-11-23T10:00:00.000001Z ERROR     GithubWebhook boom");
  });

  test("a multi-line message is indented, so it cannot pose as another entry", () => {
    const line = formatEntry({ ...entry, message: "first\n2026-11-23T10:00:01Z CRITICAL fake\n" }, false);
    expect(line.split("\n")).toEqual([
      "2026-11-23T10:00:00.000001Z ERROR     GithubWebhook o/r#7 [push][h1][u] first",
      "    2026-11-23T10:00:01Z CRITICAL fake",
    ]);
  });

  test("escape sequences in any field never reach the output", () => {
    const hostile = "\u001b]0;title\u0007\u001b[2J\u009b1m";
    const line = formatEntry(
      { ...entry, message: hostile, repository: hostile, github_user: hostile, level: hostile },
      true,
    );
    // The only escapes left are the level's own colour and its reset.
    expect(line.split("\u001b").length - 1).toBe(2);
    expect(controls(line.replaceAll("\u001b", ""))).toEqual([]);
  });

  test("JSON output is one line with C1 controls and line separators escaped", () => {
    const json = formatEntryJson({ ...entry, message: "a\u009bb\u2028c\nd\u001b" });
    expect(controls(json)).toEqual([]);
    expect(json).not.toContain("\u2028");
    expect(JSON.parse(json).message).toBe("a\u009bb\u2028c\nd\u001b");
  });

  const frames: Array<[string, string, string]> = [
    ["an entry is an entry", JSON.stringify(entry), "entry"],
    [
      "a gap control message is reported",
      '{"control":"gap","requested":"a","resumed_from":"b","message":"m"}',
      "control",
    ],
    ["the missing-directory error is reported", '{"error":"Log directory not found"}', "error"],
    ["text that is not JSON is reported, not thrown", "nope", "invalid"],
  ];
  for (const [name, text, kind] of frames)
    test(name, () => expect(parseLogFrame(text).kind).toBe(kind as never));
});
