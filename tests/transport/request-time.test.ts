/**
 * A request that may work longer than Bun's idle timeout (10 s) is allowed that long: a history query with a
 * budget past 10 s answers, on a real server, instead of having its connection closed.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { describeQueryIssue } from "../../src/app.ts";
import { createHistoryIndex, type HistoryIndex } from "../../src/history/chunk-index.ts";
import { createHistoryRoutes } from "../../src/http/history-routes.ts";
import { mcpToolRequest } from "../../src/mcp/mcp-routes.ts";
import type { SocketData } from "../../src/transport/peer.ts";
import { DEFAULT_IDLE_SECONDS, idleSecondsFor } from "../../src/transport/request-time.ts";
import type { AppEnv } from "../../src/transport/upgrade.ts";

describe("idle time a request is allowed", () => {
  const cases: Array<[string, number, number]> = [
    ["a budget well within Bun's default keeps the default", 2_000, DEFAULT_IDLE_SECONDS],
    ["a budget past the default gets the budget and time to answer", 12_000, 17],
    ["a budget in fractions of a second rounds up", 12_001, 18],
    ["the longest budget the configuration allows fits Bun's limit", 600_000, 605],
    ["twice the longest budget is held at Bun's limit", 1_200_000, 960],
  ];
  for (const [name, budgetMs, seconds] of cases)
    test(name, () => {
      expect(idleSecondsFor(budgetMs)).toBe(seconds);
    });
});

/** A history index over an empty scratch directory, removed when disposed. */
function emptyHistoryIndex(): { index: HistoryIndex; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-request-time-"));
  const index = createHistoryIndex({
    dir,
    parse: { naiveZone: "Z" },
    cacheChunks: 4,
    redact: true,
    log: () => {},
  });
  return { index, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Past the moment Bun closed an idle request in a check here (12 s for its 10 s default, its timer ticks coarsely). */
const BUDGET_MS = 14_000;

test(
  "a history query that works for 14 s, past Bun's 10 s idle timeout, answers",
  async () => {
    using empty = emptyHistoryIndex();
    const { index } = empty;
    await index.refresh();
    // A directory too large to index within the budget: every query waits for indexing until its deadline,
    // then answers that it could not be made certain.
    const stillIndexing: HistoryIndex = {
      ...index,
      refresh: async (deadline = Number.POSITIVE_INFINITY) => {
        await Bun.sleep(Math.max(0, deadline - Date.now()));
        return false;
      },
    };
    const routes = createHistoryRoutes({
      index: stillIndexing,
      budgetMs: BUDGET_MS,
      describeIssue: describeQueryIssue,
    });
    // Bun.serve's idle timeout left at its default, as server.ts leaves it.
    using server = Bun.serve<SocketData>({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (request, bunServer) => routes.fetch(request, bunServer),
    });
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${server.port}/logs/api/entries?limit=10`);
    const body = (await response.json()) as { entries: unknown[]; complete: boolean; took_ms: number };
    expect(performance.now() - started).toBeGreaterThan(DEFAULT_IDLE_SECONDS * 1000);
    expect(response.status).toBe(200);
    expect(body.complete).toBe(false);
    expect(body.entries).toEqual([]);
    expect(body.took_ms).toBeGreaterThanOrEqual(BUDGET_MS);
  },
  BUDGET_MS + 8_000,
);

test("a history query made by an MCP tool allows the time on the MCP request's own connection", async () => {
  using empty = emptyHistoryIndex();
  const { index } = empty;
  const routes = createHistoryRoutes({ index, budgetMs: BUDGET_MS, describeIssue: describeQueryIssue });
  const app = new Hono<AppEnv>();
  app.route("/", routes);
  app.get("/mcp", (c) => mcpToolRequest(app)(c, "/logs/api/entries?limit=1"));
  const mcpRequest = new Request("http://127.0.0.1/mcp");
  const allowed: Array<[Request, number]> = [];
  const env: AppEnv["Bindings"] = {
    upgrade: () => false,
    requestIP: () => null,
    timeout: (request, seconds) => allowed.push([request, seconds]),
  };
  expect((await app.fetch(mcpRequest, env)).status).toBe(200);
  expect(allowed).toEqual([[mcpRequest, idleSecondsFor(BUDGET_MS)]]);
});
