/**
 * The journal under hostile content: a line as long as the follower accepts, a corrupted journal line. Whatever
 * the journal holds, resuming, backfill and catch-up go on: what cannot be read is skipped with a gap notice.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { append, connectLogs, seqOf, textLine } from "../helpers/logs.ts";
import { rawConnect } from "../helpers/raw-ws.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor, wsConnect } from "../helpers/ws.ts";

interface Streamed {
  message: string;
  cursor: string;
  truncated?: boolean;
}

const parse = (raw: string) => JSON.parse(raw) as Streamed;

const health = async (server: TestServer) =>
  (await (await fetch(server.httpUrl("/health"))).json()) as {
    logs: { gaps_reported: number; subscribers: number; entries_seen: number; catching_up: number };
  };

/** The journal's one segment and its lines. */
function journalLines(server: TestServer): { segment: string; lines: string[] } {
  const dir = join(server.dataDir, "journal");
  const segment = join(dir, readdirSync(dir).find((name) => name.endsWith(".jsonl")) as string);
  return { segment, lines: readFileSync(segment, "utf8").split("\n") };
}

/** Overwrites line `index` in place, as a damaged block would: same length, so later seqs hold. */
function overwriteLine(segment: string, lines: string[], index: number): void {
  const start = lines.slice(0, index).reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
  const fd = openSync(segment, "r+");
  writeSync(fd, "#".repeat(Buffer.byteLength(lines[index] as string)), start);
  closeSync(fd);
}
const LIVE = { control: "live" };

describe("long lines in the journal", () => {
  test("after a 10,000,000-character line, cursor=, tail= and since= still read the journal", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const live = await connectLogs(server);
    append(server, "server.log", textLine({ seq: 1 }));
    const first = parse(await live.next());
    append(
      server,
      "server.log",
      `${textLine({ seq: 2 }).trimEnd()} ${"x".repeat(10_000_000)}\n${textLine({ seq: 3 })}`,
    );
    const long = parse(await live.next(10_000));
    expect(long.truncated).toBe(true);
    const third = parse(await live.next(10_000));
    expect(third.message).toBe("msg 3");

    const resumed = await wsConnect(server.wsUrl(`/logs/ws?cursor=${first.cursor}`));
    expect(parse(await resumed.next(10_000))).toEqual(long);
    expect(parse(await resumed.next())).toEqual(third);
    expect(await resumed.nextJson()).toEqual(LIVE);

    const tail = await wsConnect(server.wsUrl("/logs/ws?tail=2"));
    expect((await tail.take(2, 10_000)).map(parse)).toEqual([long, third]);
    expect(await tail.nextJson()).toEqual(LIVE);

    const since = await wsConnect(server.wsUrl("/logs/ws?since=2026-11-23T00:00:00Z"));
    expect((await since.take(3, 10_000)).map(parse)).toEqual([first, long, third]);
    expect(await since.nextJson()).toEqual(LIVE);
    for (const client of [live, resumed, tail, since]) client.close();
  });
});

describe("damaged journal lines", () => {
  test("a journal line that is not an entry is skipped with a gap notice, never sent", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const live = await connectLogs(server);
    append(server, "server.log", textLine({ seq: 1 }) + textLine({ seq: 2 }) + textLine({ seq: 3 }));
    const [first, second, third] = (await live.take(3)).map(parse) as [Streamed, Streamed, Streamed];
    const { segment, lines } = journalLines(server);
    overwriteLine(segment, lines, 1);

    const resumed = await wsConnect(server.wsUrl(`/logs/ws?cursor=${first.cursor}`));
    expect(await resumed.nextJson()).toEqual({
      control: "gap",
      requested: second.cursor,
      resumed_from: third.cursor,
      message: "an entry in the journal is damaged and was skipped",
    });
    expect(parse(await resumed.next())).toEqual(third);
    expect(await resumed.nextJson()).toEqual(LIVE);
    const health = (await (await fetch(server.httpUrl("/health"))).json()) as {
      logs: { gaps_reported: number };
    };
    expect(health.logs.gaps_reported).toBe(1);
    for (const client of [live, resumed]) client.close();
  });

  test("a lagging client that meets a damaged line is closed with 4101 and told the gap when it resumes", async () => {
    await using server = await startTestServer({
      files: { "server.log": "" },
      env: { WS_BACKPRESSURE_LIMIT_BYTES: "8388608", LOG_LAG_BYTES: "65536" },
    });
    const slow = await rawConnect(server.server.port as number, "/logs/ws");
    await waitFor(async () => (await health(server)).logs.subscribers === 1, 5000, "subscribed");
    slow.pause();
    const count = 20_000; // ~6 MB: far more than socket buffers and the lag limit hold
    for (let i = 0; i < count; i += 1000)
      append(server, "server.log", Array.from({ length: 1000 }, (_, k) => textLine({ seq: i + k })).join(""));
    await waitFor(async () => (await health(server)).logs.entries_seen === count, 10_000, "lines read");
    expect((await health(server)).logs.catching_up).toBe(1);
    // Damage the next-to-last entry, which the paused client cannot have been sent yet.
    const { segment, lines } = journalLines(server);
    const damaged = JSON.parse(lines.at(-3) as string) as Streamed;
    overwriteLine(segment, lines, lines.length - 3);
    slow.resume();
    await waitFor(() => slow.close !== null, 20_000, "close frame read");
    expect(slow.close).toEqual({
      code: 4101,
      reason: "Entries missing from the journal: resume with the last cursor",
    });
    const received = slow.messages.map(seqOf);
    expect(received).toEqual(Array.from({ length: count - 2 }, (_, i) => i));
    const last = JSON.parse(slow.messages.at(-1) as string) as Streamed;
    const resumed = await wsConnect(server.wsUrl(`/logs/ws?cursor=${last.cursor}`));
    expect(await resumed.nextJson()).toMatchObject({ control: "gap", requested: damaged.cursor });
    expect(seqOf(await resumed.next())).toBe(count - 1);
    expect(await resumed.nextJson()).toEqual(LIVE);
    resumed.close();
    slow.end();
  }, 60_000);
});
