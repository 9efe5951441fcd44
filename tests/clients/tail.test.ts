/**
 * `hookstream tail` as a real child process against a real server following a real log directory: JSON
 * output, colours in a pseudo-terminal (util-linux `script`), none in a pipe, hostile escape sequences
 * stripped, reconnection with the last cursor across a server restart, and its exit codes.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { ExitCode } from "../../src/clients/exit-codes.ts";
import { spawnChild } from "../helpers/child.ts";
import { append, connectLogs, textLine } from "../helpers/logs.ts";
import { requireTool } from "../helpers/requirements.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

// Real servers and child processes on a shared 2-core machine: more than bun's 5 s default per test.
setDefaultTimeout(20_000);

const TOKEN = "a-logs-token-of-enough-length";

async function subscribers(server: TestServer): Promise<number> {
  const health = (await (await fetch(server.httpUrl("/health"))).json()) as { logs: { subscribers: number } };
  return health.logs.subscribers;
}

/** Appends the lines and returns once a plain client saw them streamed (so they are in the journal). */
async function journaled(server: TestServer, lines: string[]) {
  const client = await connectLogs(server);
  append(server, "server.log", lines.join(""));
  await client.take(lines.length, 5000);
  client.close();
}

const HOSTILE =
  "2026-11-23T10:00:00.000009 GithubWebhook ERROR o/r [push][h9][eve]: title\u001b]0;pwned\u0007 clear\u001b[2J bell\u0007 c1\u009b31m end\n";

describe("hookstream tail", () => {
  test("--json prints one object per line, filtered on the server, backfill then live", async () => {
    await using server = await startTestServer();
    await journaled(server, [
      textLine({ seq: 1, level: "ERROR" }),
      textLine({ seq: 2, level: "INFO" }),
      textLine({ seq: 3, level: "ERROR" }),
    ]);
    const before = await subscribers(server);
    await using child = spawnChild([
      "tail",
      "--url",
      server.httpUrl("/"),
      "--json",
      "--level",
      "ERROR",
      "--tail",
      "10",
    ]);
    await waitFor(() => child.stdout.length === 2, 10_000, "the backfill");
    await waitFor(async () => (await subscribers(server)) > before, 5000, "the tail subscribed");
    append(server, "server.log", textLine({ seq: 4, level: "INFO" }) + textLine({ seq: 5, level: "ERROR" }));
    await waitFor(() => child.stdout.length === 3, 10_000, "the live entry");
    const entries = child.stdout.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.map((e) => [e.level, e.message, e.repository, e.github_user])).toEqual([
      ["ERROR", "msg 1", "org/repo", "octocat"],
      ["ERROR", "msg 3", "org/repo", "octocat"],
      ["ERROR", "msg 5", "org/repo", "octocat"],
    ]);
    expect(entries.every((e) => typeof e.cursor === "string")).toBe(true);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(ExitCode.OK);
  });

  test("in a pipe there are no colours, and escape sequences from log lines never reach the output", async () => {
    await using server = await startTestServer();
    await journaled(server, [textLine({ seq: 1, level: "ERROR" }), HOSTILE]);
    await using child = spawnChild(["tail", "--url", server.httpUrl("/"), "--tail", "2"]);
    await waitFor(() => child.stdout.length === 2, 10_000, "two lines");
    expect(child.stdout[0]).toBe(
      "2026-11-23T10:00:00.000001+00:00 ERROR     GithubWebhook org/repo [pull_request][hook-1][octocat] msg 1",
    );
    expect(child.stdout[1]).toBe(
      "2026-11-23T10:00:00.000009+00:00 ERROR     GithubWebhook o/r [push][h9][eve] title clear bell c1 end",
    );
  });

  const hasScript = Bun.which("script") !== null;
  if (requireTool("script (util-linux)", hasScript, "apt-get install -y util-linux")) {
    /** Runs the command in a pseudo-terminal; resolves with everything the terminal was sent. */
    async function inTerminal(server: TestServer, args: string, env: Record<string, string>, lines: number) {
      const command = `bun src/hookstream.ts tail --url ${server.httpUrl("/")} ${args}`;
      await using child = spawnChild(["-qec", command, "/dev/null"], env, ["script"]);
      await waitFor(
        () => child.stdout.filter((l) => l.includes("GithubWebhook")).length >= lines,
        10_000,
        "lines in the terminal",
      );
      child.kill("SIGTERM");
      await child.exited;
      return child.stdout.join("\n");
    }

    test("in a terminal the level is coloured, and hostile sequences are stripped all the same", async () => {
      await using server = await startTestServer();
      await journaled(server, [
        textLine({ seq: 1, level: "ERROR" }),
        textLine({ seq: 2, level: "WARNING" }),
        HOSTILE,
      ]);
      const output = await inTerminal(server, "--tail 3", { NO_COLOR: "" }, 3);
      expect(output).toContain("\u001b[31mERROR    \u001b[0m GithubWebhook org/repo");
      expect(output).toContain("\u001b[33mWARNING  \u001b[0m");
      expect(output).toContain("[push][h9][eve] title clear bell c1 end");
      expect(output).not.toContain("pwned");
      expect(output).not.toContain("\u001b]");
      expect(output).not.toContain("\u001b[2J");
      expect(output).not.toContain("\u009b");
      expect(output).not.toContain("\u0007");
    });

    test("in a terminal with NO_COLOR there is no escape sequence at all", async () => {
      await using server = await startTestServer();
      await journaled(server, [textLine({ seq: 1, level: "ERROR" })]);
      const output = await inTerminal(server, "--tail 1", { NO_COLOR: "1" }, 1);
      expect(output).toContain("ERROR     GithubWebhook org/repo");
      expect(output).not.toContain("\u001b");
    });
  }

  test("after the server restarts it continues from the last entry's cursor: nothing missed, nothing repeated", async () => {
    const first = await startTestServer({ keepDataDir: true });
    const port = first.server.port as number;
    await journaled(first, [textLine({ seq: 1 }), textLine({ seq: 2 })]);
    await using child = spawnChild(["tail", "--url", first.httpUrl("/"), "--json", "--tail", "10"]);
    await waitFor(() => child.stdout.length === 2, 10_000, "the backfill");
    await first.shutdown();
    await child.waitForLine(
      /connection closed \(1001 Server shutdown\); reconnecting in \d+ ms from /,
      "stderr",
    );
    // Written while the server is down: read from the saved file positions when it is back.
    append(first, "server.log", textLine({ seq: 3 }) + textLine({ seq: 4 }));
    await using second = await startTestServer({ dataDir: first.dataDir, env: { PORT: String(port) } });
    await waitFor(() => child.stdout.length >= 4, 15_000, "the entries written during the restart");
    append(second, "server.log", textLine({ seq: 5 }));
    await waitFor(() => child.stdout.length >= 5, 10_000, "a live entry after the restart");
    expect(child.stdout.map((line) => (JSON.parse(line) as { message: string }).message)).toEqual([
      "msg 1",
      "msg 2",
      "msg 3",
      "msg 4",
      "msg 5",
    ]);
  }, 30_000);

  test("the token is sent as a header; a wrong one ends it with exit code 3", async () => {
    await using server = await startTestServer({ env: { LOGS_TOKEN: TOKEN } });
    await using _good = spawnChild(["tail", "--url", server.httpUrl("/"), "--json"], { LOGS_TOKEN: TOKEN });
    await waitFor(async () => (await subscribers(server)) === 1, 10_000, "the tail with the right token");
    await using bad = spawnChild(["tail", "--url", server.httpUrl("/")], {
      LOGS_TOKEN: "wrong-token-of-enough-length",
    });
    expect(await bad.exited).toBe(ExitCode.UNAUTHORIZED);
    expect(bad.stderr.join("\n")).toMatch(/refused the stream \(401\)/);
  });

  const exits: Array<[string, string[], number, RegExp]> = [
    [
      "a level the server does not know ends it with exit code 4, naming the field",
      ["--level", "VERBOSE"],
      ExitCode.REFUSED,
      /\(400\).*level/,
    ],
    [
      "bad usage ends it with exit code 2 and the usage text",
      ["--tail", "x"],
      ExitCode.USAGE,
      /usage: hookstream tail/,
    ],
  ];
  for (const [name, args, code, message] of exits)
    test(name, async () => {
      await using server = await startTestServer();
      await using child = spawnChild(["tail", "--url", server.httpUrl("/"), ...args]);
      expect(await child.exited).toBe(code);
      expect(child.stderr.join("\n")).toMatch(message);
    });
});
