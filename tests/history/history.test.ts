import { describe, expect, test } from "bun:test";
import { renameSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bloomAdd, bloomMayContain, createBloom } from "../../src/history/bloom.ts";
import { compareNewestFirst, decodePosition, encodePosition } from "../../src/history/search.ts";
import { MAX_LINE_BYTES } from "../../src/logs/follow.ts";
import { append, connectLogs, jsonLine } from "../helpers/logs.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

interface ApiEntry {
  message: string;
  timestamp: string;
  level: string;
  id: string;
  repository: string | null;
}
interface Page {
  entries: ApiEntry[];
  next_cursor: string | null;
  complete: boolean;
  chunks_read: number;
}

const at = (seq: number, fields: Record<string, unknown> = {}) =>
  `${JSON.stringify({
    type: "log_entry",
    timestamp: new Date(Date.UTC(2026, 10, 23, 10, 0, 0) + seq * 1000).toISOString(),
    level: "INFO",
    logger_name: "GithubWebhook",
    message: `msg ${seq}`,
    repository: "org/repo",
    ...fields,
  })}\n`;

async function entries(server: TestServer, query: string): Promise<Page> {
  const response = await fetch(server.httpUrl(`/logs/api/entries?${query}`));
  expect(response.status).toBe(200);
  return (await response.json()) as Page;
}
const seqs = (page: Page) => page.entries.map((e) => Number(/^msg (\d+)/.exec(e.message)?.[1]));

describe("history pieces (pure)", () => {
  test("a Bloom filter never forgets what was added", () => {
    const bloom = createBloom(300);
    const keys = Array.from({ length: 300 }, (_, i) => `hook_id=h-${i}`);
    for (const key of keys) bloomAdd(bloom, key);
    expect(keys.every((key) => bloomMayContain(bloom, key))).toBe(true);
    const falsePositives = Array.from({ length: 1000 }, (_, i) => `hook_id=x-${i}`).filter((key) =>
      bloomMayContain(bloom, key),
    ).length;
    expect(falsePositives).toBeLessThan(50);
  });
  test("positions round-trip and order newest first", () => {
    const a = { ts: 2, file: "1:2", offset: 10 };
    expect(decodePosition(encodePosition(a))).toEqual(a);
    expect(decodePosition("garbage")).toBeNull();
    expect(compareNewestFirst(a, { ...a, ts: 1 })).toBeLessThan(0);
    expect(compareNewestFirst(a, { ...a, offset: 11 })).toBeGreaterThan(0);
  });
});

describe("GET /logs/api/entries", () => {
  test("newest first, merged across files by time, with filters, search and time range", async () => {
    const a = Array.from({ length: 10 }, (_, i) => at(i * 2, { level: i % 2 ? "ERROR" : "INFO" })).join("");
    const b = Array.from({ length: 10 }, (_, i) =>
      at(i * 2 + 1, { repository: "org/other", message: `msg ${i * 2 + 1}${i === 3 ? " Needle here" : ""}` }),
    ).join("");
    await using server = await startTestServer({ files: { "webhooks_2026-11-23.json": a, "other.json": b } });
    const all = await entries(server, "limit=100");
    expect(seqs(all)).toEqual(Array.from({ length: 20 }, (_, i) => 19 - i));
    expect(all.complete).toBe(true);
    expect(all.next_cursor).toBeNull();
    expect(seqs(await entries(server, "level=ERROR"))).toEqual([18, 14, 10, 6, 2]);
    expect(seqs(await entries(server, "repository=org/other&limit=3"))).toEqual([19, 17, 15]);
    expect(seqs(await entries(server, "search=needle"))).toEqual([7]);
    expect(
      seqs(await entries(server, "start_time=2026-11-23T10:00:05Z&end_time=2026-11-23T10:00:08Z")),
    ).toEqual([8, 7, 6, 5]);
  });

  test("pages backwards with the cursor, without overlap or gap", async () => {
    const lines = Array.from({ length: 25 }, (_, i) => at(i)).join("");
    await using server = await startTestServer({ files: { "app.json": lines } });
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page = await entries(server, `limit=7${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...seqs(page));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => 24 - i));
  });

  test("a malformed line is returned as a raw entry, not dropped", async () => {
    await using server = await startTestServer({
      files: { "app.log": "2026-11-23T10:00:00 app INFO fine\nnot a log line at all\n" },
    });
    const page = await entries(server, "");
    expect(page.entries.map((e) => [e.level, e.message])).toEqual([["INFO", "fine\nnot a log line at all"]]);
    await using second = await startTestServer({ files: { "app.json": `${at(1)}garbage line\n` } });
    const raw = await entries(second, "level=UNKNOWN");
    expect(raw.entries.map((e) => e.message)).toEqual(["garbage line"]);
  });

  test("lines at and past the line limit come back cut and marked exactly as the stream sent them", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const live = await connectLogs(server);
    const sizes = [MAX_LINE_BYTES - 1, MAX_LINE_BYTES, MAX_LINE_BYTES + 100_000];
    const lines = sizes.map((size, i) => {
      const head = `2026-11-23T10:00:0${i}.000000 GithubWebhook INFO org/repo msg ${i} `;
      return `${head}${"x".repeat(size - head.length)}\n`;
    });
    append(server, "server.log", lines.join(""));
    const streamed = (await live.take(3, 10_000)).map(
      (raw) => JSON.parse(raw) as { message: string; truncated?: boolean },
    );
    expect(streamed.map((e) => e.truncated)).toEqual([undefined, true, true]);
    const page = await entries(server, "");
    const history = [...page.entries].reverse() as Array<ApiEntry & { truncated?: boolean }>;
    expect(history.map((e) => [e.message, e.truncated])).toEqual(
      streamed.map((e) => [e.message, e.truncated]),
    );
    live.close();
  });

  test("a long line where a chunk should end is indexed whole, with the lines around it", async () => {
    // 700 short lines stay under the chunk size; the 400 KB line after them runs past it and past the first
    // read beyond it, so the chunk's end is found by a second, longer read.
    const short = Array.from({ length: 700 }, (_, i) => at(i, { message: `msg ${i} ${"s".repeat(200)}` }));
    expect(short.join("").length).toBeLessThan(256 * 1024);
    const long = at(700, { message: `msg 700 ${"l".repeat(400_000)}` });
    const after = Array.from({ length: 10 }, (_, i) => at(701 + i));
    await using server = await startTestServer({
      files: { "app.json": [...short, long, ...after].join("") },
    });
    const page = await entries(server, "limit=2000");
    expect(seqs(page)).toEqual(Array.from({ length: 711 }, (_, i) => 710 - i));
    expect(page.entries.find((e) => e.message.startsWith("msg 700 "))?.message.length).toBe(400_008);
  });

  test("lines appended after start-up, rotations and truncations are seen", async () => {
    await using server = await startTestServer({ files: { "app.json": at(1) } });
    expect(seqs(await entries(server, ""))).toEqual([1]);
    append(server, "app.json", at(2));
    expect(seqs(await entries(server, ""))).toEqual([2, 1]);
    renameSync(join(server.logDir, "app.json"), join(server.logDir, "app.json.1"));
    writeFileSync(join(server.logDir, "app.json"), at(3));
    expect(seqs(await entries(server, ""))).toEqual([3, 2, 1]);
    truncateSync(join(server.logDir, "app.json.1"), 0);
    expect(seqs(await entries(server, ""))).toEqual([3]);
  });

  test("a query made while the directory is still being indexed sees a file that appeared after it began", async () => {
    // Indexing 20 MB at start-up takes a while: the query below arrives while it runs.
    const big = Array.from({ length: 60_000 }, (_, i) => at(i, { message: `bulk ${i} ${"x".repeat(250)}` }));
    await using server = await startTestServer({
      files: { "old.json": big.join("") },
      env: { HISTORY_BUDGET_MS: "60000" },
    });
    writeFileSync(join(server.logDir, "new.json"), at(70_000, { message: "appeared meanwhile" }));
    const page = await entries(server, "search=appeared%20meanwhile");
    expect(page.complete).toBe(true);
    expect(page.entries.map((e) => e.message)).toEqual(["appeared meanwhile"]);
  });

  test("values written as JSON escapes (Python's ensure_ascii) are still found by filter", async () => {
    const escaped =
      '{"type": "log_entry", "timestamp": "2026-11-23T10:00:00Z", "level": "INFO", "message": "msg 1", "repository": "org/\\u65e5\\u672c", "api_user": "\\u7528\\u6237"}\n';
    await using server = await startTestServer({ files: { "app.json": escaped + at(2) } });
    expect(seqs(await entries(server, `repository=${encodeURIComponent("org/日本")}`))).toEqual([1]);
    expect(seqs(await entries(server, `github_user=${encodeURIComponent("用户")}&level=INFO`))).toEqual([1]);
  });

  test("summaries are found by their default level and their composed message", async () => {
    const summary =
      '{"hook_id": "h9", "event_type": "push", "repository": "org/repo", "sender": "octo", "success": true, "timing": {"started_at": "2026-11-23T10:00:09Z", "duration_ms": 12}}\n';
    await using server = await startTestServer({ files: { "app.json": at(1) + summary + at(2) } });
    expect(
      (await entries(server, "level=COMPLETED&repository=org/repo")).entries.map((e) => e.message),
    ).toEqual(["Webhook push succeeded in 12 ms"]);
    expect((await entries(server, "search=SUCCEEDED&github_user=octo")).entries).toHaveLength(1);
    expect(seqs(await entries(server, "search=msg&level=INFO"))).toEqual([2, 1]);
  });

  test("entry ids are stable and secrets are masked", async () => {
    await using server = await startTestServer({
      files: { "app.json": at(1, { message: "token ghp_16C7e42F292c6912E7710c838347Ae178B4a" }) },
    });
    const first = await entries(server, "");
    const again = await entries(server, "");
    expect(first.entries[0]?.id).toBe(again.entries[0]?.id as string);
    expect(first.entries[0]?.message).toBe("token ghp_*****");
  });

  const bad: Array<[string, string]> = [
    ["limit=0", "limit"],
    ["limit=10001", "limit"],
    ["start_time=soon", "start_time"],
    ["cursor=nope", "cursor"],
    ["level=LOUD", "level"],
    ["color=red", "color"],
  ];
  for (const [query, field] of bad) {
    test(`?${query} is refused with 400 naming ${field}`, async () => {
      await using server = await startTestServer();
      const response = await fetch(server.httpUrl(`/logs/api/entries?${query}`));
      expect(response.status).toBe(400);
      expect(((await response.json()) as { field: string }).field).toBe(field);
    });
  }

  test("a 100,000-line directory: filtered queries read few chunks, repeated queries hit the cache", async () => {
    const repos = ["org/a", "org/b", "org/c", "org/d"];
    const big = Array.from({ length: 100_000 }, (_, i) =>
      jsonLine({
        seq: i,
        repository: repos[i % 4],
        hook: `hook-${i}`,
        level: i % 50 === 0 ? "ERROR" : "INFO",
      }),
    ).join("");
    await using server = await startTestServer({
      files: { "webhooks_2026-11-23.json": big },
      env: { HISTORY_BUDGET_MS: "20000" },
    });
    const newest = await entries(server, "limit=5");
    expect(newest.entries).toHaveLength(5);
    expect(newest.chunks_read).toBeLessThanOrEqual(2);
    const oneHook = await entries(server, "hook_id=hook-31337");
    expect(oneHook.entries.map((e) => e.message)).toEqual(["msg 31337"]);
    expect(oneHook.complete).toBe(true);
    expect(oneHook.chunks_read).toBeLessThanOrEqual(3); // the Bloom filters rule out the other ~140 chunks
    const errors = await entries(server, "level=ERROR&limit=10000");
    expect(errors.entries).toHaveLength(2000);
    const search = await entries(server, "search=msg%2099999");
    expect(search.entries.map((e) => e.message)).toEqual(["msg 99999"]);
  }, 60_000);
});

describe("GET /logs/api/export", () => {
  test("streams the selection as NDJSON and as the original's JSON document", async () => {
    await using server = await startTestServer({
      files: {
        "app.json": Array.from({ length: 2500 }, (_, i) => at(i, { level: i % 2 ? "ERROR" : "INFO" })).join(
          "",
        ),
      },
    });
    const ndjson = await fetch(server.httpUrl("/logs/api/export?level=ERROR&format=ndjson"));
    expect(ndjson.headers.get("content-type")).toContain("application/x-ndjson");
    expect(ndjson.headers.get("content-disposition")).toContain("attachment");
    const lines = (await ndjson.text())
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as ApiEntry);
    expect(lines).toHaveLength(1250);
    expect(lines[0]?.message).toBe("msg 2499");
    expect(lines.at(-1)?.message).toBe("msg 1");
    const json = (
      (await (await fetch(server.httpUrl("/logs/api/export?format=json&search=msg%2024"))).json()) as {
        log_entries: ApiEntry[];
      }
    ).log_entries;
    const expected = Array.from({ length: 2500 }, (_, i) => 2499 - i)
      .map((seq) => `msg ${seq}`)
      .filter((message) => message.startsWith("msg 24"));
    expect(json.map((e) => e.message)).toEqual(expected);
  });
});
