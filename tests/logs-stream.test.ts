import { describe, expect, test } from "bun:test";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer } from "./helpers/server.ts";
import { wsConnect } from "./helpers/ws.ts";

const line = (
  n: number,
  opts: { level?: string; repo?: string; pr?: number; user?: string; hook?: string; event?: string } = {},
) => {
  const pr = opts.pr === undefined ? "" : `[PR ${opts.pr}]`;
  return `2026-11-23T10:00:00.${String(n).padStart(6, "0")} GithubWebhook ${opts.level ?? "INFO"} ${opts.repo ?? "org/repo"} [${opts.event ?? "pull_request"}][${opts.hook ?? "hook-1"}][${opts.user ?? "octocat"}]${pr}: message ${n}\n`;
};

describe("/logs/ws", () => {
  test("streams an appended line", async () => {
    await using server = await startTestServer({ files: { "server.log": line(0) } });
    const client = await wsConnect(server.wsUrl("/logs/ws"));
    appendFileSync(join(server.logDir, "server.log"), line(1));
    const entry = await client.nextJson();
    expect(entry.message).toBe("message 1");
    expect(entry.repository).toBe("org/repo");
    client.close();
  });
});
