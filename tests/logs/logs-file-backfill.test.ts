/**
 * `tail=N` and `since=` on `/logs/ws` reach into the log files when the journal does not go back that far
 * (a first start on a directory that already has logs), with no gap or duplicate where the files' part meets
 * the journal's and the live stream; and they agree with the history API.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { fixtureFiles } from "../helpers/gws-replay.ts";
import { append, seqOf } from "../helpers/logs.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor, wsConnect } from "../helpers/ws.ts";
import { waitForEntriesSeen } from "../web/browser.ts";

const LIVE = { control: "live" };
const at = (seq: number, fields: Record<string, unknown> = {}) =>
  `${JSON.stringify({
    type: "log_entry",
    timestamp: new Date(Date.UTC(2026, 10, 23, 10, 0, 0) + seq * 1000).toISOString(),
    level: seq % 4 === 0 ? "ERROR" : "INFO",
    logger_name: "GithubWebhook",
    message: `msg ${seq}`,
    ...fields,
  })}\n`;
const lines = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => at(from + i)).join("");

describe("backfill from the log files", () => {
  test("a first start on an existing directory: tail=N is the newest N records, then live", async () => {
    await using server = await startTestServer({
      files: fixtureFiles(join(import.meta.dir, "../fixtures/gws-twins")),
    });
    const history = (await (await fetch(server.httpUrl("/logs/api/entries?limit=5"))).json()) as {
      entries: Array<{ message: string; timestamp: string }>;
    };
    const client = await wsConnect(server.wsUrl("/logs/ws?tail=5"));
    const got = (await client.take(5)).map((m) => JSON.parse(m) as { message: string; timestamp: string });
    expect(got.map((e) => [e.timestamp, e.message])).toEqual(
      history.entries.map((e) => [e.timestamp, e.message]).reverse(),
    );
    expect(await client.nextJson()).toEqual(LIVE);
    append(server, "webhooks_2026-12-02.json", at(1));
    expect(seqOf(await client.next())).toBe(1);
    await expect(client.next(300)).rejects.toThrow("no message");
    client.close();
  });

  test("the files' part meets the journal's without a gap or a duplicate", async () => {
    await using server = await startTestServer({ files: { "app.json": lines(1, 10) } });
    append(server, "app.json", lines(11, 13));
    await waitForEntriesSeen(server.httpUrl, 3);
    const client = await wsConnect(server.wsUrl("/logs/ws?tail=6"));
    expect((await client.take(6)).map(seqOf)).toEqual([8, 9, 10, 11, 12, 13]);
    expect(await client.nextJson()).toEqual(LIVE);
    append(server, "app.json", at(14));
    expect(seqOf(await client.next())).toBe(14);
    await expect(client.next(300)).rejects.toThrow("no message");
    client.close();
  });

  test("filters apply to both parts", async () => {
    await using server = await startTestServer({ files: { "app.json": lines(1, 10) } });
    append(server, "app.json", lines(11, 13));
    await waitForEntriesSeen(server.httpUrl, 3);
    const client = await wsConnect(server.wsUrl("/logs/ws?tail=3&level=ERROR"));
    expect((await client.take(3)).map(seqOf)).toEqual([4, 8, 12]);
    expect(await client.nextJson()).toEqual(LIVE);
    client.close();
  });

  test("since= reaches into the files, then the journal, then live", async () => {
    await using server = await startTestServer({ files: { "app.json": lines(1, 10) } });
    append(server, "app.json", lines(11, 12));
    await waitForEntriesSeen(server.httpUrl, 2);
    const client = await wsConnect(server.wsUrl("/logs/ws?since=2026-11-23T10:00:07Z"));
    expect((await client.take(6)).map(seqOf)).toEqual([7, 8, 9, 10, 11, 12]);
    expect(await client.nextJson()).toEqual(LIVE);
    append(server, "app.json", at(13));
    expect(seqOf(await client.next())).toBe(13);
    client.close();
  });

  test("when the journal holds enough, only the journal answers", async () => {
    await using server = await startTestServer({ files: { "app.json": lines(1, 10) } });
    append(server, "app.json", lines(11, 15));
    await waitForEntriesSeen(server.httpUrl, 5);
    const client = await wsConnect(server.wsUrl("/logs/ws?tail=3"));
    expect((await client.take(3)).map(seqOf)).toEqual([13, 14, 15]);
    expect(await client.nextJson()).toEqual(LIVE);
    client.close();
  });

  test("a live client (no tail or since) gets no history", async () => {
    await using server = await startTestServer({ files: { "app.json": lines(1, 10) } });
    const client = await wsConnect(server.wsUrl("/logs/ws"));
    await waitFor(
      async () =>
        ((await (await fetch(server.httpUrl("/health"))).json()) as { logs: { subscribers: number } }).logs
          .subscribers === 1,
      5000,
      "subscription",
    );
    append(server, "app.json", at(11));
    expect(seqOf(await client.next())).toBe(11);
    client.close();
  });

  test("lines journaled out of time order across files are taken from the journal only, never twice", async () => {
    await using server = await startTestServer({ files: { "a.log": "", "b.log": "" } });
    const line = (second: number, text: string) =>
      `2026-11-23T10:00:0${second}.000000+00:00 app INFO ${text}\n`;
    // The newer line is journaled first; the older ones after it, as when files are read side by side.
    append(server, "a.log", line(5, "newest, journaled first"));
    await waitForEntriesSeen(server.httpUrl, 1);
    append(server, "b.log", line(1, "older one") + line(2, "older two"));
    await waitForEntriesSeen(server.httpUrl, 3);
    const client = await wsConnect(server.wsUrl("/logs/ws?tail=100"));
    const messages = (await client.take(3)).map((m) => (JSON.parse(m) as { message: string }).message);
    expect(messages.sort()).toEqual(["newest, journaled first", "older one", "older two"]);
    expect(await client.nextJson()).toEqual({ control: "live" });
    client.close();
  });
});
