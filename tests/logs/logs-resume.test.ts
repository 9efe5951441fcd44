import { describe, expect, test } from "bun:test";
import { append, connectLogs, jsonLine, seqOf, textLine } from "../helpers/logs.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor, wsConnect } from "../helpers/ws.ts";

interface Streamed {
  message: string;
  cursor: string;
  level: string;
}

const parse = (raw: string) => JSON.parse(raw) as Streamed;
/** Marks where a requested backfill ends and the live stream begins. */
const LIVE = { control: "live" };

describe("cursors", () => {
  test("every streamed entry carries an ordered cursor", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    append(server, "server.log", Array.from({ length: 50 }, (_, i) => textLine({ seq: i })).join(""));
    const cursors = (await client.take(50)).map((m) => parse(m).cursor);
    expect(cursors.every((c) => typeof c === "string" && c.length > 0)).toBe(true);
    expect(new Set(cursors).size).toBe(50);
    const seqs = cursors.map((c) => Number.parseInt(c.split("-")[1] as string, 16));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    client.close();
  });

  test("?cursor= continues right after it: what was written meanwhile once, in order, then live", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const first = await connectLogs(server, "level=ERROR");
    const lines = Array.from({ length: 40 }, (_, i) => textLine({ seq: i, level: i % 2 ? "ERROR" : "INFO" }));
    append(server, "server.log", lines.slice(0, 10).join(""));
    const seen = (await first.take(5)).map(parse);
    expect(seen.map((e) => seqOf(JSON.stringify(e)))).toEqual([1, 3, 5, 7, 9]);
    first.close();
    await first.closed;
    append(server, "server.log", lines.slice(10, 30).join(""));
    const last = seen.at(-1) as Streamed;
    // Let the follower read the lines written while disconnected.
    await waitFor(
      async () =>
        ((await (await fetch(server.httpUrl("/health"))).json()) as { logs: { entries_seen: number } }).logs
          .entries_seen === 30,
    );
    const resumed = await wsConnect(server.wsUrl(`/logs/ws?level=ERROR&cursor=${last.cursor}`));
    expect((await resumed.take(10)).map(seqOf)).toEqual([11, 13, 15, 17, 19, 21, 23, 25, 27, 29]);
    expect(await resumed.nextJson()).toEqual(LIVE);
    append(server, "server.log", lines.slice(30).join(""));
    expect((await resumed.take(5)).map(seqOf)).toEqual([31, 33, 35, 37, 39]);
    resumed.close();
  });

  test("a cursor from another journal gets one gap notice and the oldest retained entries", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const live = await connectLogs(server);
    append(server, "server.log", textLine({ seq: 1 }) + textLine({ seq: 2 }));
    await live.take(2);
    const client = await wsConnect(server.wsUrl("/logs/ws?cursor=00000000-5"));
    const notice = await client.nextJson();
    expect(notice).toMatchObject({ control: "gap", requested: "00000000-5" });
    expect(String(notice.resumed_from)).toMatch(/^[0-9a-f]{8}-1$/);
    expect((await client.take(2)).map(seqOf)).toEqual([1, 2]);
    client.close();
    live.close();
  });

  test("a cursor older than the retention gets a gap notice naming where it resumes", async () => {
    await using server = await startTestServer({
      files: { "server.log": "" },
      env: { JOURNAL_SEGMENT_BYTES: "65536", JOURNAL_MAX_BYTES: "1048576" },
    });
    const live = await connectLogs(server);
    append(server, "server.log", textLine({ seq: 0 }));
    const firstCursor = parse(await live.next()).cursor;
    // ~2.5 MB of entries: the oldest segments, with the first cursor, are deleted.
    for (let i = 1; i <= 6000; i += 500) {
      append(server, "server.log", Array.from({ length: 500 }, (_, k) => textLine({ seq: i + k })).join(""));
    }
    const all = await live.take(6000, 10_000);
    expect(seqOf(all.at(-1) as string)).toBe(6000);
    const client = await wsConnect(server.wsUrl(`/logs/ws?cursor=${firstCursor}`));
    const notice = await client.nextJson<{ control: string; requested: string; resumed_from: string }>();
    expect(notice).toMatchObject({ control: "gap", requested: firstCursor });
    const resumedAt = Number.parseInt(notice.resumed_from.split("-")[1] as string, 16);
    expect(resumedAt).toBeGreaterThan(2);
    const next = parse(await client.next());
    expect(next.cursor).toBe(notice.resumed_from);
    const health = (await (await fetch(server.httpUrl("/health"))).json()) as {
      logs: { journal_oldest: string; gaps_reported: number };
    };
    expect(health.logs.journal_oldest).toBe(notice.resumed_from);
    expect(health.logs.gaps_reported).toBe(1);
    client.close();
    live.close();
  });
});

describe("backfill", () => {
  test("?tail=N sends the last N matching entries, then live ones, with no gap or duplicate", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const live = await connectLogs(server);
    append(
      server,
      "server.log",
      Array.from({ length: 30 }, (_, i) => textLine({ seq: i, repository: i % 3 ? "a/b" : "c/d" })).join(""),
    );
    await live.take(30);
    const client = await wsConnect(server.wsUrl("/logs/ws?tail=4&repository=c/d"));
    expect((await client.take(4)).map(seqOf)).toEqual([18, 21, 24, 27]);
    expect(await client.nextJson()).toEqual(LIVE);
    append(server, "server.log", textLine({ seq: 30, repository: "c/d" }) + textLine({ seq: 31 }));
    expect(seqOf(await client.next())).toBe(30);
    await expect(client.next(300)).rejects.toThrow("no message");
    client.close();
    live.close();
  });

  test("?tail=N with fewer matching entries retained sends what there is", async () => {
    await using server = await startTestServer({ files: { "app.json": "" } });
    const live = await connectLogs(server);
    append(server, "app.json", jsonLine({ seq: 1 }) + jsonLine({ seq: 2 }));
    await live.take(2);
    const client = await wsConnect(server.wsUrl("/logs/ws?tail=100"));
    expect((await client.take(2)).map(seqOf)).toEqual([1, 2]);
    client.close();
    live.close();
  });

  test("?since= sends entries from that time on, then live ones", async () => {
    await using server = await startTestServer({ files: { "app.json": "" } });
    const live = await connectLogs(server);
    const at = (seq: number, minute: number) =>
      `${JSON.stringify({ type: "log_entry", timestamp: `2026-11-23T10:${String(minute).padStart(2, "0")}:00Z`, level: "INFO", message: `msg ${seq}` })}\n`;
    append(server, "app.json", at(1, 1) + at(2, 2) + at(3, 3) + at(4, 4));
    await live.take(4);
    const client = await wsConnect(server.wsUrl("/logs/ws?since=2026-11-23T10:03:00Z"));
    expect((await client.take(2)).map(seqOf)).toEqual([3, 4]);
    expect(await client.nextJson()).toEqual(LIVE);
    append(server, "app.json", at(5, 5));
    expect(seqOf(await client.next())).toBe(5);
    client.close();
    live.close();
  });

  const bad: Array<[string, string]> = [
    ["tail=-1", "tail"],
    ["tail=10001", "tail"],
    ["since=yesterday", "since"],
    ["tail=5&cursor=abc", "cursor"],
  ];
  for (const [query, field] of bad) {
    test(`?${query} is refused with 400 naming ${field}`, async () => {
      await using server = await startTestServer();
      const response = await fetch(server.httpUrl(`/logs/ws?${query}`), {
        headers: { Upgrade: "websocket" },
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { field: string }).field).toBe(field);
    });
  }
});

describe("restart", () => {
  test("a client resumes after a restart and gets what was written while the server was down", async () => {
    const first = await startTestServer({ files: { "server.log": "" }, keepDataDir: true });
    const client = await connectLogs(first);
    append(first, "server.log", textLine({ seq: 1 }) + textLine({ seq: 2 }));
    const [, second] = (await client.take(2)).map(parse);
    await first.shutdown();
    expect((await client.closed).code).toBe(1001);
    // Written while hookstream is down.
    append(first, "server.log", textLine({ seq: 3 }) + textLine({ seq: 4 }));
    await using restarted = await startTestServer({ dataDir: first.dataDir });
    const resumed = await wsConnect(restarted.wsUrl(`/logs/ws?cursor=${second?.cursor}`));
    expect((await resumed.take(2)).map(seqOf)).toEqual([3, 4]);
    expect(await resumed.nextJson()).toEqual(LIVE);
    append(restarted, "server.log", textLine({ seq: 5 }));
    expect(seqOf(await resumed.next())).toBe(5);
    resumed.close();
  });
});
