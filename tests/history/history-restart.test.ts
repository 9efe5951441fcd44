/**
 * The history index kept between runs: a restarted server answers from the saved index and reads only what
 * changed in the log directory meanwhile, and its answers are those of an index built from nothing.
 */
import { describe, expect, test } from "bun:test";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LogFn } from "../../src/server.ts";
import { textLine } from "../helpers/logs.ts";
import { quietLog, startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

/** A temporary directory removed when the test's scope ends, after the servers declared later in it. */
function scratchDir(prefix: string): { path: string; [Symbol.dispose](): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

interface HistoryHealth {
  files: number;
  indexed_bytes: number;
  complete: boolean;
  bytes_indexed: number;
  files_restored: number;
  bytes_restored: number;
  files_reindexed: number;
  saved: { saves: number; bytes: number } | null;
}

const BASE = Date.UTC(2026, 10, 23, 10, 0, 0);

/** `count` JSON lines from `from` on, each about 250 bytes: 1,100 of them make a file of several chunks. */
function jsonLines(from: number, count: number, tag = "") {
  let out = "";
  for (let seq = from; seq < from + count; seq++)
    out += `${JSON.stringify({
      type: "log_entry",
      timestamp: new Date(BASE + seq * 1000).toISOString(),
      level: seq % 7 === 0 ? "ERROR" : "INFO",
      logger_name: "GithubWebhook",
      message: `msg ${seq}${tag} ${"lorem ipsum ".repeat(12)}`,
      hook_id: `hook-${Math.floor(seq / 10)}`,
      repository: `org/r${seq % 5}`,
    })}\n`;
  return out;
}

const textLines = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => textLine({ seq: from + i, repository: `org/r${i % 5}` })).join("");

const QUERIES = [
  "limit=1000",
  "level=ERROR&limit=1000",
  "repository=org/r3&limit=40",
  "hook_id=hook-77",
  "search=msg%201234&limit=50",
  "start_time=2026-11-23T10:10:00Z&end_time=2026-11-23T10:20:00Z&limit=1000",
];

async function health(server: TestServer): Promise<HistoryHealth> {
  return ((await (await fetch(server.httpUrl("/health"))).json()) as { history: HistoryHealth }).history;
}

/** Every query's answer but the time it took; the first query waits for the index (it is the first ever). */
async function answers(server: TestServer): Promise<string[]> {
  const out: string[] = [];
  for (const query of QUERIES) {
    const response = await fetch(server.httpUrl(`/logs/api/entries?${query}`));
    expect(response.status).toBe(200);
    const { took_ms: _, ...rest } = (await response.json()) as Record<string, unknown>;
    expect({ query, complete: rest.complete }).toEqual({ query, complete: true });
    out.push(JSON.stringify(rest));
  }
  return out;
}

/** The answers of a server that has never seen this log directory (a fresh DATA_DIR, nothing saved). */
async function coldAnswers(logDir: string): Promise<{ answers: string[]; health: HistoryHealth }> {
  await using cold = await startTestServer({ env: { LOG_DIR: logDir }, createLogDir: false });
  const result = await answers(cold);
  return { answers: result, health: await health(cold) };
}

/** A server over `dataDir` (and its logs/), kept for a restart; `log` collects its warnings. */
function startKept(dataDir: string, log: LogFn = quietLog, env: Record<string, string> = {}) {
  return startTestServer({ dataDir, keepDataDir: true, log, env });
}

function directorySize(dir: string, names: string[]): number {
  return names.reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

describe("history index kept between runs", () => {
  test("a restarted server answers its first query from the saved index, reading none of the old bytes", async () => {
    using scratch = scratchDir("hookstream-restart-");
    const dataDir = scratch.path;
    const names = ["webhooks_2026-11-23.json", "webhooks_2026-11-22.json", "server.log"];
    {
      await using first = await startTestServer({
        dataDir,
        keepDataDir: true,
        files: {
          [names[0] as string]: jsonLines(0, 1200),
          [names[1] as string]: jsonLines(1200, 1200),
          [names[2] as string]: textLines(3000, 2000),
        },
      });
      await answers(first);
      expect((await health(first)).bytes_indexed).toBe(directorySize(first.logDir, names));
      // Saved once the indexing work is done, not only at a clean stop.
      await waitFor(async () => (await health(first)).saved?.saves === 1, 5000, "the save after indexing");
      expect(existsSync(join(dataDir, "history.index"))).toBe(true);
    }
    expect(existsSync(join(dataDir, "history.index"))).toBe(true);

    await using second = await startKept(dataDir);
    const restarted = await answers(second);
    const after = await health(second);
    expect(after).toMatchObject({
      bytes_indexed: 0,
      files_restored: 3,
      bytes_restored: directorySize(second.logDir, names),
      files_reindexed: 0,
      files: 3,
      complete: true,
    });
    const cold = await coldAnswers(second.logDir);
    expect(cold.health.bytes_indexed).toBe(directorySize(second.logDir, names));
    expect(restarted).toEqual(cold.answers);
  }, 60_000);

  test("what was indexed after the last save is saved at a clean stop", async () => {
    using scratch = scratchDir("hookstream-restart-");
    const dataDir = scratch.path;
    {
      await using first = await startTestServer({
        dataDir,
        keepDataDir: true,
        files: { "a.json": jsonLines(0, 1100) },
      });
      await answers(first);
      await waitFor(async () => (await health(first)).saved?.saves === 1, 5000, "the save after indexing");
      appendFileSync(join(first.logDir, "a.json"), jsonLines(1100, 300));
      await answers(first); // indexes the new lines; the next save is due only SAVE_INTERVAL_MS later
      expect((await health(first)).saved?.saves).toBe(1);
    }
    await using second = await startKept(dataDir);
    await answers(second);
    expect(await health(second)).toMatchObject({ files_restored: 1, bytes_indexed: 0 });
  }, 60_000);

  test("grown, rotated, truncated, rewritten and deleted files: only what changed is read again", async () => {
    using scratch = scratchDir("hookstream-restart-");
    const dataDir = scratch.path;
    const logDir = join(dataDir, "logs");
    {
      await using first = await startTestServer({
        dataDir,
        keepDataDir: true,
        files: {
          "grown.json": jsonLines(0, 1100),
          "rotated.json": jsonLines(2000, 1100),
          "truncated.json": jsonLines(4000, 1100),
          "rewritten.json": jsonLines(6000, 1100),
          "deleted.json": jsonLines(8000, 1100),
          "edited.json": jsonLines(10_000, 1100),
        },
      });
      await answers(first);
    }
    const appended = jsonLines(1100, 300);
    appendFileSync(join(logDir, "grown.json"), appended);
    // A rename-rotation keeps the file (its identity) under a new name; a new file takes the old name.
    renameSync(join(logDir, "rotated.json"), join(logDir, "rotated.json.1"));
    writeFileSync(join(logDir, "rotated.json"), jsonLines(3100, 200));
    // Truncated and written again, smaller: the same inode holds other lines.
    writeFileSync(join(logDir, "truncated.json"), jsonLines(5000, 500));
    // Rewritten in place, larger: same inode, larger than saved, other first bytes (as a reused inode is).
    writeFileSync(join(logDir, "rewritten.json"), jsonLines(7000, 1300, " again"));
    rmSync(join(logDir, "deleted.json"));
    // Its first lines kept, the rest written anew and longer: the bytes before the saved end tell.
    writeFileSync(join(logDir, "edited.json"), jsonLines(10_000, 100) + jsonLines(10_100, 1100, " edited"));

    await using second = await startKept(dataDir);
    const restarted = await answers(second);
    expect(await health(second)).toMatchObject({
      files_restored: 2, // grown.json and rotated.json.1
      files_reindexed: 3, // truncated.json, rewritten.json and edited.json
      files: 6,
      bytes_indexed:
        Buffer.byteLength(appended) +
        directorySize(logDir, ["rotated.json", "truncated.json", "rewritten.json", "edited.json"]),
    });
    // The grown file's appended lines form chunks of their own, where a cold index cuts at CHUNK_BYTES: the
    // entries, cursors and counts are the same, the chunks read to find them and the entries looked at not.
    const sameResult = (answer: string) => {
      const {
        chunks_read: _,
        entries_processed: __,
        ...rest
      } = JSON.parse(answer) as Record<string, unknown>;
      return rest;
    };
    expect(restarted.map(sameResult)).toEqual((await coldAnswers(logDir)).answers.map(sameResult));
  }, 60_000);

  const damages: Array<[string, (path: string) => void, string]> = [
    [
      "cut in half",
      (path) => writeFileSync(path, readFileSync(path).subarray(0, statSync(path).size >> 1)),
      "checksum",
    ],
    [
      "overwritten with other bytes",
      (path) => writeFileSync(path, "not an index at all\n".repeat(50)),
      "not a history index",
    ],
    ["empty", (path) => writeFileSync(path, ""), "cut short"],
    [
      "of an older format version",
      (path) => {
        const bytes = readFileSync(path);
        bytes.writeUInt32LE(0, 8);
        writeFileSync(path, bytes);
      },
      "format version 0",
    ],
  ];
  for (const [damage, spoil, reason] of damages)
    test(`a saved index ${damage} is ignored with one log line and rebuilt`, async () => {
      using scratch = scratchDir("hookstream-restart-");
      const dataDir = scratch.path;
      const files = { "webhooks_2026-11-23.json": jsonLines(0, 1100), "server.log": textLines(3000, 500) };
      {
        await using first = await startTestServer({ dataDir, keepDataDir: true, files });
        await answers(first);
      }
      spoil(join(dataDir, "history.index"));
      const warnings: string[] = [];
      await using second = await startKept(dataDir, (level, message) => {
        if (level !== "info") warnings.push(message);
      });
      const restarted = await answers(second);
      expect(warnings.filter((line) => line.includes("history index"))).toEqual([
        expect.stringContaining(reason),
      ]);
      const logDir = join(dataDir, "logs");
      expect(await health(second)).toMatchObject({
        files_restored: 0,
        bytes_indexed: directorySize(logDir, Object.keys(files)),
      });
      expect(restarted).toEqual((await coldAnswers(logDir)).answers);
      await second.shutdown(); // and the rebuilt index is saved again, whole
      await using third = await startKept(dataDir);
      await answers(third);
      expect(await health(third)).toMatchObject({ files_restored: 2, bytes_indexed: 0 });
    }, 60_000);

  test("a saved index of another LOG_DIR is not used", async () => {
    using scratch = scratchDir("hookstream-restart-");
    const dataDir = scratch.path;
    using otherDirScratch = scratchDir("hookstream-otherlogs-");
    const otherDir = otherDirScratch.path;
    const lines = jsonLines(0, 1100);
    {
      await using first = await startTestServer({ dataDir, keepDataDir: true, files: { "a.json": lines } });
      await answers(first);
    }
    // The same file (same inode) seen through another directory's name: still another LOG_DIR.
    renameSync(join(dataDir, "logs", "a.json"), join(otherDir, "a.json"));
    const warnings: string[] = [];
    await using second = await startKept(
      dataDir,
      (level, message) => {
        if (level !== "info") warnings.push(message);
      },
      { LOG_DIR: otherDir },
    );
    await answers(second);
    expect(warnings).toEqual([expect.stringContaining(`built for LOG_DIR ${join(dataDir, "logs")}`)]);
    expect(await health(second)).toMatchObject({ files_restored: 0, bytes_indexed: lines.length });
  }, 60_000);

  test("a saved file moved out of LOG_DIR and linked back is neither restored nor read", async () => {
    using scratch = scratchDir("hookstream-restart-");
    const dataDir = scratch.path;
    using outsideScratch = scratchDir("hookstream-outside-");
    const outside = outsideScratch.path;
    const logDir = join(dataDir, "logs");
    const kept = jsonLines(0, 200);
    {
      await using first = await startTestServer({
        dataDir,
        keepDataDir: true,
        files: { "a.json": jsonLines(5000, 1100, " outside"), "b.json": kept },
      });
      await answers(first);
    }
    // The same inode the saved chunks describe, now outside the directory behind a link.
    renameSync(join(logDir, "a.json"), join(outside, "a.json"));
    symlinkSync(join(outside, "a.json"), join(logDir, "a.json"));
    await using second = await startKept(dataDir);
    const response = await fetch(second.httpUrl("/logs/api/entries?search=outside"));
    expect(((await response.json()) as { entries: unknown[] }).entries).toEqual([]);
    expect(await health(second)).toMatchObject({ files: 1, files_restored: 1, bytes_indexed: 0 });
  }, 60_000);

  test("a directory where the saved index should be: one line at start, one when saving fails, one when it works again", async () => {
    using scratch = scratchDir("hookstream-restart-");
    const dataDir = scratch.path;
    const files = { "webhooks_2026-11-23.json": jsonLines(0, 1100) };
    mkdirSync(join(dataDir, "history.index"));
    const lines: string[] = [];
    const log: LogFn = (level, message) => {
      if (message.includes("history index")) lines.push(`${level}: ${message}`);
    };
    {
      await using server = await startTestServer({ dataDir, keepDataDir: true, files, log });
      expect((await answers(server)).length).toBe(QUERIES.length);
      expect(await health(server)).toMatchObject({ complete: true, files: 1, files_restored: 0 });
      const failures = async () =>
        (
          (await (await fetch(server.httpUrl("/health"))).json()) as {
            history: { saved: { save_failures: number } };
          }
        ).history.saved.save_failures;
      await waitFor(async () => (await failures()) === 1, 5000, "the failed save after indexing");
      rmSync(join(dataDir, "history.index"), { recursive: true });
    } // the stop saves what the failed save did not
    expect(lines).toEqual([
      expect.stringMatching(/^warn: saved history index .* not used: Error: Directories cannot be read/),
      expect.stringMatching(/^warn: history index not saved to /),
      expect.stringMatching(/^info: history index saved to .* again$/),
    ]);
    await using second = await startKept(dataDir);
    await answers(second);
    expect(await health(second)).toMatchObject({ files_restored: 1, bytes_indexed: 0 });
  }, 60_000);
});
