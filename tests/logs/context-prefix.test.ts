import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type WebhookContext, webhookContext } from "../../src/logs/context-prefix.ts";
import { seededRandom } from "../helpers/random.ts";

/** The prefix as the processor's log viewer reads it: the scanner must accept exactly this, with these parts. */
const WEBHOOK_CONTEXT =
  /^(\S+) \[((?:\\.|[^\]\\])+)\]\[((?:\\.|[^\]\\])+)\]\[((?:\\.|[^\]\\])+)\](?:\[PR (\d+)\])?: (.*)$/s;

function byRegex(message: string): WebhookContext | null {
  const match = WEBHOOK_CONTEXT.exec(message);
  if (match === null) return null;
  return {
    repository: match[1] as string,
    eventType: match[2] as string,
    hookId: match[3] as string,
    user: match[4] as string,
    pr: match[5],
    text: match[6] as string,
  };
}

describe("the webhook context prefix", () => {
  const cases: [string, string, Partial<WebhookContext> | null][] = [
    [
      "a whole prefix with a pull request",
      "org/repo [pull_request][abc-1][bot][PR 12]: Processing",
      {
        repository: "org/repo",
        eventType: "pull_request",
        hookId: "abc-1",
        user: "bot",
        pr: "12",
        text: "Processing",
      },
    ],
    ["no pull request", "org/repo [push][h][u]: done", { pr: undefined, text: "done" }],
    ["the text may be empty", "r [e][h][u]: ", { text: "" }],
    ["the text runs over newlines", "r [e][h][u]: one\ntwo", { text: "one\ntwo" }],
    ["escaped brackets stay in the value", "r [e\\]x][h\\[][u]: t", { eventType: "e\\]x", hookId: "h\\[" }],
    ["an escaped backslash ends nothing", "r [e\\\\][h][u]: t", { eventType: "e\\\\" }],
    ["an empty bracket is no prefix", "r [][h][u]: t", null],
    ["a tab after the repository is no prefix", "r\t[e][h][u]: t", null],
    ["an empty repository is no prefix", " [e][h][u]: t", null],
    ["a non-breaking space ends the repository", "r\u00a0x [e][h][u]: t", null],
    ["a PR tag without digits is no prefix", "r [e][h][u][PR x]: t", null],
    ["a PR tag not followed by `: ` is no prefix", "r [e][h][u][PR 1] t", null],
    ["a fourth bracket is no prefix", "r [e][h][u][x]: t", null],
    ["a lone backslash at the end is no prefix", "r [e][h][u\\", null],
    ["`:` without the space is no prefix", "r [e][h][u]:t", null],
  ];
  for (const [name, message, expected] of cases) {
    test(name, () => {
      const parsed = webhookContext(message);
      expect(parsed).toEqual(byRegex(message));
      if (expected === null) expect(parsed).toBeNull();
      else expect(parsed).toMatchObject(expected);
    });
  }

  test("every message of the processor's own logs gives what the regex gives", () => {
    const dir = join(import.meta.dir, "../../../shared/fixtures/gws-live/logs");
    const json = readFileSync(join(dir, "webhooks_2026-12-02.json"), "utf8").split("\n").filter(Boolean);
    const messages = json.map((line) => String((JSON.parse(line) as { message?: unknown }).message ?? ""));
    let prefixed = 0;
    for (const message of messages) {
      expect(webhookContext(message)).toEqual(byRegex(message));
      if (byRegex(message) !== null) prefixed++;
    }
    // The fixture is the real deployment's: most of its records carry the prefix.
    expect(prefixed).toBeGreaterThan(messages.length / 2);
  });

  test("generated messages: accepted and cut exactly as the regex does", () => {
    // Pieces that make every branch likely: brackets, escapes, the PR tag, `: `, every kind of whitespace.
    const pieces = [
      "r",
      "o/r",
      "x",
      "1",
      "42",
      " ",
      "\t",
      "\n",
      "\u00a0",
      "\u2028",
      "\u180e",
      "\ufeff",
      "[",
      "]",
    ];
    pieces.push(
      "\r",
      "\u000b",
      "\u000c",
      "\u1680",
      "\u2000",
      "\u200a",
      "\u2029",
      "\u202f",
      "\u205f",
      "\u3000",
    );
    pieces.push("\\", "\\]", "\\[", "\\\\", ":", ": ", "[PR ", "[PR 7]", "][", "]: ", "PR", "é", "\ud83d");
    const random = seededRandom(7);
    const template = ["r", " [", "e", "][", "h", "][", "u", "]", "[PR 3]", ": ", "text"];
    let accepted = 0;
    for (let i = 0; i < 50_000; i++) {
      // Half start from a valid prefix with a few pieces changed, half are random strings.
      const parts = i % 2 === 0 ? [...template] : [];
      const edits = 1 + random(4);
      for (let k = 0; k < edits; k++) {
        const piece = pieces[random(pieces.length)] as string;
        if (parts.length > 0 && random(2) === 0) parts[random(parts.length)] = piece;
        else parts.splice(random(parts.length + 1), 0, piece);
      }
      const message = parts.join("");
      const expected = byRegex(message);
      if (expected !== null) accepted++;
      const got = webhookContext(message);
      if (JSON.stringify(got) !== JSON.stringify(expected))
        expect({ message, got }).toEqual({ message, got: expected });
    }
    // Both outcomes were exercised many times.
    expect(accepted).toBeGreaterThan(1_000);
    expect(accepted).toBeLessThan(49_000);
  });
});
