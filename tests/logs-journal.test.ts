/**
 * The journal under hostile content: a line as long as the follower accepts, a corrupted journal line. Whatever
 * the journal holds, resuming, backfill and catch-up go on: what cannot be read is skipped with a gap notice.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { append, connectLogs, textLine } from "./helpers/logs.ts";
import { startTestServer } from "./helpers/server.ts";
import { wsConnect } from "./helpers/ws.ts";

interface Streamed {
  message: string;
  cursor: string;
  truncated?: boolean;
}

const parse = (raw: string) => JSON.parse(raw) as Streamed;
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
    // Overwrite the second line in place, as a flipped block would: same length, so later seqs hold.
    const dir = join(server.dataDir, "journal");
    const segment = join(dir, readdirSync(dir).find((name) => name.endsWith(".jsonl")) as string);
    const lines = readFileSync(segment, "utf8").split("\n");
    const start = Buffer.byteLength(`${lines[0]}\n`);
    const fd = openSync(segment, "r+");
    writeSync(fd, "#".repeat(Buffer.byteLength(lines[1] as string)), start);
    closeSync(fd);

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
});
