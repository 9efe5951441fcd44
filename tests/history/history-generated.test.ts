import { expect, test } from "bun:test";
import { CHUNK_BYTES } from "../../src/history/chunk-parse.ts";
import { seededRandom } from "../helpers/random.ts";
import { startTestServer } from "../helpers/server.ts";

interface GeneratedRecord {
  id: number;
  ts: number;
  level: string;
  hook: string;
  repo: string;
  pr: number | null;
  message: string;
}

const LEVELS = ["INFO", "ERROR", "DEBUG", "WARNING"];
const BASE = Date.UTC(2026, 10, 23, 10, 0, 0);

test("history search, paged with its cursor, returns exactly what a brute-force filter finds, newest first", async () => {
  const random = seededRandom(1);
  // Three time-ordered files of several chunks each; many records share a timestamp or sit on a whole
  // second, where a time range's bounds fall.
  const records: GeneratedRecord[] = [];
  const files: Record<string, string> = {};
  /** The first and last record of every chunk: a chunk is pruned by its oldest and newest timestamps. */
  const chunkEdges: GeneratedRecord[] = [];
  for (const name of ["webhooks_2026-11-23.json", "webhooks_2026-11-22.json", "other.json"]) {
    let ts = BASE + random(60_000);
    const lines: string[] = [];
    for (let i = 0, n = 500 + random(3_500); i < n; i++) {
      ts += random(4) === 0 ? 0 : random(3) === 0 ? 1000 - (ts % 1000) : random(400);
      const id = records.length;
      const record: GeneratedRecord = {
        id,
        ts,
        level: LEVELS[random(LEVELS.length)] as string,
        hook: `h${random(20)}`,
        repo: `org/r${random(5)}`,
        pr: random(3) === 0 ? null : random(10),
        message: `msg ${id}${random(10) === 0 ? " Needle" : ""}`,
      };
      records.push(record);
      lines.push(
        JSON.stringify({
          type: "log_entry",
          timestamp: new Date(ts).toISOString().replace("Z", "+00:00"),
          level: record.level,
          logger_name: "GithubWebhook",
          message: record.message,
          hook_id: record.hook,
          repository: record.repo,
          pr_number: record.pr,
        }),
      );
    }
    files[name] = `${lines.join("\n")}\n`;
    // A chunk ends after the first newline at or past CHUNK_BYTES from its start (chunkEnd).
    const fileRecords = records.slice(records.length - lines.length);
    let chunkStart = 0;
    let offset = 0;
    for (const [i, line] of lines.entries()) {
      if (offset === chunkStart) chunkEdges.push(fileRecords[i] as GeneratedRecord);
      offset += Buffer.byteLength(line) + 1;
      if (offset - 1 >= chunkStart + CHUNK_BYTES) {
        chunkEdges.push(fileRecords[i] as GeneratedRecord);
        chunkStart = offset;
      }
    }
  }
  await using server = await startTestServer({ files });
  const tsOf = new Map(records.map((r) => [r.id, r.ts]));

  const mismatches: string[] = [];
  // The last 40 queries are ranges alone, with one bound on a chunk's first or last record: whether a chunk
  // is skipped by its timestamps decides those.
  for (let q = 0; q < 120; q++) {
    const rangeOnly = q >= 80;
    const params = new URLSearchParams();
    const filters: ((r: GeneratedRecord) => boolean)[] = [];
    const maybe = (odds: number, name: string, value: string, keep: (r: GeneratedRecord) => boolean) => {
      if (rangeOnly || random(odds) !== 0) return;
      params.set(name, value);
      filters.push(keep);
    };
    const hook = `h${random(20)}`;
    maybe(3, "hook_id", hook, (r) => r.hook === hook);
    const repo = `org/r${random(5)}`;
    maybe(3, "repository", repo, (r) => r.repo === repo);
    const level = LEVELS[random(LEVELS.length)] as string;
    maybe(3, "level", level, (r) => r.level === level);
    const pr = random(10);
    maybe(4, "pr_number", String(pr), (r) => r.pr === pr);
    maybe(5, "search", "needle", (r) => r.message.toLowerCase().includes("needle"));
    if (rangeOnly || random(3) === 0) {
      // Most ranges start and end on a record's own timestamp, often a chunk's first or last one: inclusive
      // bounds, at the entry and at the chunk, are where it goes wrong.
      const edge = (chunkEdges[random(chunkEdges.length)] as GeneratedRecord).ts;
      const anyRecord = () => (records[random(records.length)] as GeneratedRecord).ts;
      let start: number;
      let end: number;
      if (!rangeOnly && random(4) === 0) {
        start = BASE + random(1500) * 1000;
        end = start + random(600) * 1000;
      } else if (rangeOnly || random(3) === 0) {
        const width = random(300_000);
        [start, end] = random(2) === 0 ? [edge, edge + width] : [edge - width, edge];
      } else {
        const a = anyRecord();
        const b = random(2) === 0 ? edge : anyRecord();
        [start, end] = [Math.min(a, b), Math.max(a, b)];
      }
      params.set("start_time", new Date(start).toISOString());
      params.set("end_time", new Date(end).toISOString());
      filters.push((r) => r.ts >= start && r.ts <= end);
    }
    const expected = records.filter((r) => filters.every((keep) => keep(r))).map((r) => r.id);
    // Small pages where few match, so that paging is exercised without thousands of requests.
    const limit = Math.min(
      10_000,
      Math.max([3, 40, 700][random(3)] as number, Math.ceil(expected.length / 15)),
    );
    params.set("limit", String(limit));

    const got: number[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams(params);
      if (cursor !== null) query.set("cursor", cursor);
      const response = await fetch(server.httpUrl(`/logs/api/entries?${query}`));
      expect(response.status).toBe(200);
      const page = (await response.json()) as { entries: { message: string }[]; next_cursor: string | null };
      for (const entry of page.entries) got.push(Number(/^msg (\d+)/.exec(entry.message)?.[1]));
      cursor = page.next_cursor;
    } while (cursor !== null && got.length <= records.length);

    const sorted = (ids: number[]) => JSON.stringify([...ids].sort((a, b) => a - b));
    if (sorted(got) !== sorted(expected))
      mismatches.push(`${params}: ${got.length} entries, ${expected.length} expected`);
    const newestFirst = got.every(
      (id, i) => i === 0 || (tsOf.get(id) ?? 0) <= (tsOf.get(got[i - 1] as number) ?? 0),
    );
    if (!newestFirst) mismatches.push(`${params}: not newest first`);
  }
  expect(mismatches).toEqual([]);
}, 30_000);
