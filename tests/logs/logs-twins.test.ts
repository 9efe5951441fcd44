/**
 * The processor writes every record twice (a text line and a JSON line); clients, backfill and history see
 * it once. Real server, real files appended in the processor's order and out of it.
 */
import { describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import { processorWrites } from "../helpers/gws-replay.ts";
import { connectLogs } from "../helpers/logs.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type TestSocket, wsConnect } from "../helpers/ws.ts";

const OWN_FIXTURE = join(import.meta.dir, "../fixtures/gws-twins");
const SHARED_FIXTURE = join(import.meta.dir, "../../../shared/fixtures/gws-live/logs");
const TEXT = "webhook-server.log";
const JSON_FILE = "webhooks_2026-12-02.json";
const TEXT_ONLY = "logs_server.log";

interface Rec {
  seq: number;
  level: string;
  hook: string | null;
  user: string | null;
  repository: string | null;
  text: string | null;
  json: string | null;
  file: string;
}

const ESC = "\u001b";

/**
 * Records shaped like the processor's: fully prefixed (user in the prefix only, as when api_user is still
 * empty), unprefixed in text with the context only in JSON, request lines with the short prefix, errors with
 * a traceback, and a text-only logger now and then.
 */
function record(seq: number): Rec {
  const ts = `2026-12-02T04:45:${String(10 + Math.floor(seq / 100)).padStart(2, "0")}.${String((seq % 100) * 10_000 + 123).padStart(6, "0")}+00:00`;
  const level = seq % 13 === 0 ? "ERROR" : seq % 2 === 0 ? "DEBUG" : "INFO";
  const hook = `hook-${seq % 10}`;
  const repo = `repo-${seq % 3}`;
  const user = `user-${seq % 4}`;
  const message = `msg ${seq}`;
  const text = (body: string, logger = TEXT) =>
    `${ts} ${logger} ${ESC}[32m${level}${ESC}[0m ${body}${ESC}[0m\n`;
  const json = (body: string, extra: Record<string, unknown> = {}) =>
    `${JSON.stringify({ type: "log_entry", timestamp: ts, level, logger_name: TEXT, message: body, ...extra })}\n`;
  const traceback =
    level === "ERROR"
      ? `\nTraceback (most recent call last):\n  File "x.py", line ${seq}\nValueError: ${seq}`
      : "";
  const context = {
    hook_id: hook,
    event_type: "pull_request",
    repository: repo,
    pr_number: null,
    api_user: "",
  };
  if (seq % 50 === 4)
    return {
      seq,
      level,
      hook: null,
      user: null,
      repository: null,
      text: text(message, TEXT_ONLY),
      json: null,
      file: TEXT_ONLY,
    };
  switch (seq % 4) {
    case 0: {
      const prefix = `${repo} [pull_request][${hook}][${user}]: `;
      const colouredText = `${ESC}[38;5;160m${repo}${ESC}[0m [pull_request][${hook}][${user}]: ${message}${traceback.replace(/ValueError/, `${ESC}[1;35mValueError${ESC}[0m`)}`;
      return {
        seq,
        level,
        hook,
        user,
        repository: repo,
        file: TEXT,
        text: text(colouredText),
        json: json(`${prefix}${message}`, traceback ? { ...context, exc_info: traceback.slice(1) } : context),
      };
    }
    case 1:
      return {
        seq,
        level,
        hook,
        user: null,
        repository: repo,
        file: TEXT,
        text: text(message + traceback),
        json: json(message, traceback ? { ...context, exc_info: traceback.slice(1) } : context),
      };
    case 2:
      return {
        seq,
        level,
        hook,
        user: null,
        repository: null,
        file: TEXT,
        text: text(` [pull_request][${hook}]: ${message}${traceback}`),
        json: json(` [pull_request][${hook}]: ${message}`, traceback ? { exc_info: traceback.slice(1) } : {}),
      };
    default: {
      const prefix = `${repo} [pull_request][${hook}][${user}]: `;
      return {
        seq,
        level,
        hook,
        user,
        repository: repo,
        file: TEXT,
        text: text(`${prefix}${message}${traceback}`),
        json: json(`${prefix}${message}`, {
          ...context,
          api_user: user,
          ...(traceback ? { exc_info: traceback.slice(1) } : {}),
        }),
      };
    }
  }
}

const seqOfEntry = (entry: { message: string }) => Number(/^msg (\d+)/.exec(entry.message)?.[1]);

async function takeSeqs(client: TestSocket, count: number): Promise<number[]> {
  const messages = await client.take(count, 20_000);
  return messages.map((m) => seqOfEntry(JSON.parse(m)));
}

async function health(server: TestServer) {
  return (await (await fetch(server.httpUrl("/health"))).json()) as {
    logs: {
      twins: {
        pairs_merged: number;
        late_twins_dropped: number;
        twin_never_came: number;
        held: number;
      } | null;
    };
  };
}

describe("one record, one entry", () => {
  test("both copies of 1,000 records, appended out of order and across a rotation, reach every filtered client once and in order", async () => {
    await using server = await startTestServer({ files: { [TEXT]: "", [JSON_FILE]: "", [TEXT_ONLY]: "" } });
    const filters: Array<[string, (r: Rec) => boolean]> = [
      ["", () => true],
      ["level=ERROR", (r) => r.level === "ERROR"],
      ["hook_id=hook-3", (r) => r.hook === "hook-3"],
      ["github_user=user-1", (r) => r.user === "user-1"],
      ["repository=repo-2&level=INFO", (r) => r.repository === "repo-2" && r.level === "INFO"],
    ];
    const clients = await Promise.all(filters.map(([query]) => connectLogs(server, query)));
    const records = Array.from({ length: 1000 }, (_, seq) => record(seq));

    let next = 0;
    for (let batch = 0; next < records.length; batch++) {
      const size = 1 + ((batch * 7) % 13);
      const slice = records.slice(next, next + size);
      next += size;
      const texts = new Map<string, string>();
      for (const r of slice) if (r.text !== null) texts.set(r.file, (texts.get(r.file) ?? "") + r.text);
      const jsons = slice.map((r) => r.json ?? "").join("");
      const writeTexts = () => {
        for (const [file, text] of texts) appendFileSync(join(server.logDir, file), text);
      };
      // Mostly as the processor writes (text first); every third batch the JSON copies land first.
      if (batch % 3 === 0) {
        appendFileSync(join(server.logDir, JSON_FILE), jsons);
        writeTexts();
      } else {
        writeTexts();
        appendFileSync(join(server.logDir, JSON_FILE), jsons);
      }
      if (next >= 500 && next - size < 500)
        renameSync(join(server.logDir, TEXT), join(server.logDir, `${TEXT}.1`));
      await new Promise((resolve) => setImmediate(resolve));
    }

    for (const [i, [query, matches]] of filters.entries()) {
      const client = clients[i] as TestSocket;
      const expected = records.filter(matches).map((r) => r.seq);
      const seqs = await takeSeqs(client, expected.length);
      // Exactly once each; in order within the processor's main logger (another file's lines have no order
      // relative to it: the follower reads files side by side).
      expect({ query, seqs: [...seqs].sort((a, b) => a - b) }).toEqual({ query, seqs: expected });
      const main = (seq: number) => records[seq]?.file === TEXT;
      expect({ query, seqs: seqs.filter(main) }).toEqual({ query, seqs: expected.filter(main) });
      await expect(client.next(300)).rejects.toThrow("no message");
      client.close();
    }

    const twins = (await health(server)).logs.twins;
    const paired = records.filter((r) => r.text !== null && r.json !== null).length;
    expect((twins?.pairs_merged ?? 0) + (twins?.late_twins_dropped ?? 0)).toBe(paired);
    expect(twins?.held).toBe(0);

    // Backfill from the journal: the same entries once.
    const backfill = await wsConnect(server.wsUrl("/logs/ws?tail=10000"));
    const backfilled = await takeSeqs(backfill, records.length);
    expect([...backfilled].sort((a, b) => a - b)).toEqual(records.map((r) => r.seq));
    expect(JSON.parse(await backfill.next())).toEqual({ control: "live" });
    backfill.close();

    // History reads the files themselves: each record once, newest first, filters on the merged fields.
    const page = (await (await fetch(server.httpUrl("/logs/api/entries?limit=5000"))).json()) as {
      entries: Array<{ message: string }>;
    };
    expect(page.entries.map(seqOfEntry)).toEqual(records.map((r) => r.seq).reverse());
    const byUser = (await (
      await fetch(server.httpUrl("/logs/api/entries?limit=5000&github_user=user-1"))
    ).json()) as {
      entries: Array<{ message: string }>;
    };
    expect(byUser.entries.map(seqOfEntry)).toEqual(
      records
        .filter((r) => r.user === "user-1")
        .map((r) => r.seq)
        .reverse(),
    );
  }, 60_000);

  const fixtures: Array<[string, string, number, number]> = [
    ["our fixture", OWN_FIXTURE, 103, 5],
    ["the whole gws-live run", SHARED_FIXTURE, 335, 7],
  ];
  for (const [name, dir, records, errors] of fixtures) {
    test.skipIf(!existsSync(dir))(
      `${name}, replayed the way the processor writes it: ${records} records stream ${records} times, ${errors} ERROR`,
      async () => {
        await using server = await startTestServer({
          files: { [TEXT]: "", [JSON_FILE]: "", [TEXT_ONLY]: "" },
        });
        const all = await connectLogs(server);
        const failures = await connectLogs(server, "level=ERROR");
        const requestLines = await connectLogs(server, "hook_id=308eb698-ee0b-11f1-bbe4-02fc00000001");
        for (const write of processorWrites(dir)) {
          appendFileSync(join(server.logDir, write.file), write.text);
          await new Promise((resolve) => setImmediate(resolve));
        }
        expect(await all.take(records, 20_000)).toHaveLength(records);
        expect(await failures.take(errors, 20_000)).toHaveLength(errors);
        await expect(all.next(300)).rejects.toThrow("no message");
        await expect(failures.next(50)).rejects.toThrow("no message");
        // The first lines of the failed webhook's story carry its hook id now: the request lines are among them.
        const story: Array<{ message: string }> = [];
        while (requestLines.pending() > 0) story.push(JSON.parse(await requestLines.next()));
        expect(story.map((e) => e.message)).toContain("Processing webhook");
        expect(story.map((e) => e.message)).toContain("Signature verification successful");

        const history = (await (await fetch(server.httpUrl("/logs/api/entries?limit=1000"))).json()) as {
          entries: unknown[];
        };
        expect(history.entries).toHaveLength(records);
        const errorsInHistory = (await (
          await fetch(server.httpUrl("/logs/api/entries?level=ERROR"))
        ).json()) as {
          entries: unknown[];
        };
        expect(errorsInHistory.entries).toHaveLength(errors);
      },
      30_000,
    );
  }

  test("a burst where the text file runs far ahead of the JSON file pairs every record and never stalls", async () => {
    await using server = await startTestServer({ files: { [TEXT]: "", [JSON_FILE]: "" } });
    const all = await connectLogs(server);
    const count = 30_000;
    let text = "";
    let json = "";
    for (let seq = 0; seq < count; seq++) {
      const ts = `2026-12-02T05:00:${String(Math.floor(seq / 1000) % 60).padStart(2, "0")}.${String(seq).padStart(6, "0")}+00:00`;
      text += `${ts} ${TEXT} INFO repo [push][h-${seq % 7}][bot]: msg ${seq}\n`;
      json += `${JSON.stringify({ type: "log_entry", timestamp: ts, level: "INFO", logger_name: TEXT, message: `repo [push][h-${seq % 7}][bot]: msg ${seq}` })}\n`;
    }
    // The whole text copy first, then the whole JSON copy: the window fills with text copies, the text
    // reader pauses, and the JSON reader brings their twins.
    appendFileSync(join(server.logDir, TEXT), text);
    appendFileSync(join(server.logDir, JSON_FILE), json);
    const seqs = await takeSeqs(all, count);
    expect(seqs).toEqual(Array.from({ length: count }, (_, seq) => seq));
    await expect(all.next(300)).rejects.toThrow("no message");
    const twins = (await health(server)).logs.twins;
    expect(twins).toMatchObject({ pairs_merged: count, held: 0 });
  }, 60_000);

  test("a restart between records: a client resuming with its cursor gets every record once", async () => {
    const writes = processorWrites(OWN_FIXTURE);
    const split = writes.findIndex((write, i) => i > writes.length / 2 && write.file === JSON_FILE);
    const before = writes.slice(0, split + 1);
    const firstRecords = before.filter((write) => write.file !== TEXT).length;
    const first = await startTestServer({
      files: { [TEXT]: "", [JSON_FILE]: "", [TEXT_ONLY]: "" },
      keepDataDir: true,
    });
    const client = await connectLogs(first);
    for (const write of before) appendFileSync(join(first.logDir, write.file), write.text);
    const seen = (await client.take(firstRecords, 20_000)).map(
      (m) => JSON.parse(m) as { message: string; cursor: string },
    );
    await first.shutdown();
    // Written while hookstream is down.
    for (const write of writes.slice(split + 1)) appendFileSync(join(first.logDir, write.file), write.text);
    await using restarted = await startTestServer({ dataDir: first.dataDir });
    const resumed = await wsConnect(restarted.wsUrl(`/logs/ws?cursor=${seen.at(-1)?.cursor}`));
    // The backfill from the journal may reach its end (the live notice) before the restarted follower has
    // read everything written while it was down: those entries then follow live.
    const rest: Array<{ message: string }> = [];
    const controls: unknown[] = [];
    while (rest.length < 103 - firstRecords) {
      const message = JSON.parse(await resumed.next(20_000)) as { message: string; control?: string };
      if (message.control === undefined) rest.push(message);
      else controls.push(message);
    }
    if (controls.length === 0) controls.push(JSON.parse(await resumed.next(5_000)));
    expect(controls).toEqual([{ control: "live" }]);
    await expect(resumed.next(300)).rejects.toThrow("no message");
    const messages = [...seen, ...rest].map((e) => e.message);
    expect(messages).toHaveLength(103);
    // The same entries as one server that saw every write without a restart.
    await using reference = await startTestServer({
      files: { [TEXT]: "", [JSON_FILE]: "", [TEXT_ONLY]: "" },
    });
    const all = await connectLogs(reference);
    for (const write of writes) appendFileSync(join(reference.logDir, write.file), write.text);
    const expected = (await all.take(103, 20_000)).map((m) => (JSON.parse(m) as { message: string }).message);
    expect([...messages].sort()).toEqual([...expected].sort());
    resumed.close();
  }, 30_000);

  test("LOG_DEDUPE=false streams every file's lines as they are: both copies", async () => {
    await using server = await startTestServer({
      env: { LOG_DEDUPE: "false" },
      files: { [TEXT]: "", [JSON_FILE]: "", [TEXT_ONLY]: "" },
    });
    const all = await connectLogs(server);
    for (const write of processorWrites(OWN_FIXTURE))
      appendFileSync(join(server.logDir, write.file), write.text);
    expect(await all.take(103 + 96, 20_000)).toHaveLength(199);
    await expect(all.next(300)).rejects.toThrow("no message");
    expect((await health(server)).logs.twins).toBeNull();
    const history = (await (await fetch(server.httpUrl("/logs/api/entries?limit=1000"))).json()) as {
      entries: unknown[];
    };
    expect(history.entries).toHaveLength(199);
  });
});
