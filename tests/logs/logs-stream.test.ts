import { describe, expect, test } from "bun:test";
import { mkdirSync, renameSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseTextLine } from "../../src/logs/parse.ts";
import { entryMatches, type LogFilters } from "../../src/logs/topics.ts";
import { append, connectLogs, jsonLine, type LineFields, seqOf, textLine } from "../helpers/logs.ts";
import { startTestServer } from "../helpers/server.ts";
import { wsConnect } from "../helpers/ws.ts";

/** Expected sequence numbers for a filter set, using the reference matcher on the parsed lines. */
function expectedSeqs(lines: LineFields[], filters: LogFilters): number[] {
  return lines
    .filter((f) => entryMatches(parseTextLine(textLine(f).trimEnd(), { naiveZone: "Z" }) as never, filters))
    .map((f) => f.seq);
}

describe("/logs/ws streaming", () => {
  test("each filter, alone and combined, gets exactly its entries, once, in order", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const filterSets: Array<[string, LogFilters]> = [
      ["", {}],
      ["hook_id=h1", { hook_id: "h1" }],
      ["pr_number=5", { pr_number: "5" }],
      ["repository=a/b", { repository: "a/b" }],
      ["event_type=push", { event_type: "push" }],
      ["github_user=u1", { github_user: "u1" }],
      ["level=ERROR", { level: "ERROR" }],
      ["level=error", { level: "ERROR" }],
      ["repository=a/b&level=ERROR", { repository: "a/b", level: "ERROR" }],
      [
        "repository=a/b&level=ERROR&event_type=push&pr_number=5",
        { repository: "a/b", level: "ERROR", event_type: "push", pr_number: "5" },
      ],
      ["hook_id=h2&github_user=u2", { hook_id: "h2", github_user: "u2" }],
    ];
    const clients = [];
    for (const [query] of filterSets) clients.push(await connectLogs(server, query));

    const pick = <T>(seq: number, values: T[]) => values[seq % values.length] as T;
    const lines: LineFields[] = Array.from({ length: 300 }, (_, seq) => ({
      seq,
      hook: pick(seq, ["h1", "h2", "h3"]),
      pr: pick(seq, [5, 6, undefined, 5]),
      repository: pick(seq, ["a/b", "c/d"]),
      event: pick(seq, ["push", "pull_request", "check_run", "push", "issue_comment"]),
      user: pick(seq, ["u1", "u2", "u3", "u1"]),
      level: pick(seq, ["INFO", "ERROR", "DEBUG", "ERROR", "WARNING", "ERROR", "INFO"]),
    }));
    // Matches every filter above, so it closes each client's stream: nothing may come after it.
    const sentinel: LineFields = {
      seq: 999_999,
      hook: "h1",
      pr: 5,
      repository: "a/b",
      event: "push",
      user: "u1",
      level: "ERROR",
    };
    const sentinelForH2: LineFields = { ...sentinel, seq: 999_998, hook: "h2", user: "u2" };
    for (let i = 0; i < lines.length; i += 37)
      append(
        server,
        "server.log",
        lines
          .slice(i, i + 37)
          .map(textLine)
          .join(""),
      );
    append(server, "server.log", textLine(sentinel) + textLine(sentinelForH2));

    for (const [i, [query, filters]] of filterSets.entries()) {
      const client = clients[i];
      if (client === undefined) throw new Error("missing client");
      const expected = expectedSeqs([...lines, sentinel, sentinelForH2], filters);
      const received = (await client.take(expected.length)).map(seqOf);
      expect({ query, received }).toEqual({ query, received: expected });
      expect(expected.length).toBeGreaterThan(1);
      client.close();
    }
  });

  test("1,000 lines appended in bursts arrive complete, none lost or duplicated", async () => {
    await using server = await startTestServer({ files: { "webhooks_2026-11-23.json": "" } });
    const client = await connectLogs(server);
    const total = 1000;
    for (let i = 0; i < total; i += 100) {
      append(
        server,
        "webhooks_2026-11-23.json",
        Array.from({ length: 100 }, (_, k) => jsonLine({ seq: i + k })).join(""),
      );
    }
    const received = (await client.take(total)).map(seqOf);
    expect(received).toEqual(Array.from({ length: total }, (_, i) => i));
    client.close();
  });

  test("a half-written line waits for its newline and arrives whole", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    const full = textLine({ seq: 1 });
    append(server, "server.log", full.slice(0, 40));
    await expect(client.next(300)).rejects.toThrow("no message");
    append(server, "server.log", full.slice(40) + textLine({ seq: 2 }));
    const [first, second] = (await client.take(2)).map(
      (m) => JSON.parse(m) as { message: string; hook_id: string },
    );
    expect(first).toMatchObject({ message: "msg 1", hook_id: "hook-1" });
    expect(second?.message).toBe("msg 2");
    client.close();
  });

  test("rename rotation: the rest of the old file comes first, then the new file from its start", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    append(server, "server.log", textLine({ seq: 1 }) + textLine({ seq: 2 }));
    expect((await client.take(2)).map(seqOf)).toEqual([1, 2]);
    renameSync(join(server.logDir, "server.log"), join(server.logDir, "server.log.1"));
    // The writer still holds the old file open and finishes its last lines there.
    append(server, "server.log.1", textLine({ seq: 3 }) + textLine({ seq: 4 }));
    writeFileSync(join(server.logDir, "server.log"), textLine({ seq: 5 }) + textLine({ seq: 6 }));
    expect((await client.take(4)).map(seqOf)).toEqual([3, 4, 5, 6]);
    append(server, "server.log", textLine({ seq: 7 }));
    expect(seqOf(await client.next())).toBe(7);
    client.close();
  });

  test("copy-truncate: after the file is emptied, new lines are read from the start", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    append(server, "server.log", Array.from({ length: 20 }, (_, i) => textLine({ seq: i })).join(""));
    expect((await client.take(20)).map(seqOf)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    writeFileSync(join(server.logDir, "server.log.1"), "copied");
    truncateSync(join(server.logDir, "server.log"), 0);
    append(server, "server.log", textLine({ seq: 100 }) + textLine({ seq: 101 }));
    expect((await client.take(2)).map(seqOf)).toEqual([100, 101]);
    client.close();
  });

  test("the next day's file is picked up and read from its first line", async () => {
    await using server = await startTestServer({ files: { "webhooks_2026-11-23.json": "" } });
    const client = await connectLogs(server);
    append(server, "webhooks_2026-11-23.json", jsonLine({ seq: 1 }));
    expect(seqOf(await client.next())).toBe(1);
    writeFileSync(
      join(server.logDir, "webhooks_2026-11-24.json"),
      jsonLine({ seq: 2 }) + jsonLine({ seq: 3 }),
    );
    expect((await client.take(2)).map(seqOf)).toEqual([2, 3]);
    client.close();
  });

  test("lines already in files at start-up are not replayed", async () => {
    await using server = await startTestServer({ files: { "server.log": textLine({ seq: 1 }) } });
    const client = await connectLogs(server);
    append(server, "server.log", textLine({ seq: 2 }));
    expect(seqOf(await client.next())).toBe(2);
    client.close();
  });

  test("a missing log directory is reported, and the stream starts once it appears", async () => {
    await using server = await startTestServer({ createLogDir: false });
    const client = await wsConnect(server.wsUrl("/logs/ws"));
    expect(await client.nextJson()).toEqual({ error: "Log directory not found" });
    mkdirSync(server.logDir);
    writeFileSync(join(server.logDir, "server.log"), textLine({ seq: 1 }));
    expect(seqOf(await client.next())).toBe(1);
    client.close();
  });

  test("a traceback arrives as part of the entry that logged it", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server, "level=ERROR");
    append(
      server,
      "server.log",
      `${textLine({ seq: 1, level: "ERROR" })}Traceback (most recent call last):\nValueError: x\n${textLine({ seq: 2 })}`,
    );
    const entry = await client.nextJson<{ message: string }>();
    expect(entry.message).toBe("msg 1\nTraceback (most recent call last):\nValueError: x");
    client.close();
  });

  test("GitHub tokens never reach clients", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    append(
      server,
      "server.log",
      "2026-11-23T10:00:00 app INFO cloning https://x-access-token:ghs_16C7e42F292c6912E7710c838347Ae178B4a@github.com/a/b\n",
    );
    const raw = await client.next();
    expect(raw).not.toContain("16C7e42F");
    expect(raw).toContain("ghs_*****");
    client.close();
  });
});

describe("/logs/ws request handling", () => {
  const badQueries: Array<[string, string]> = [
    ["pr_number=abc", "pr_number"],
    ["pr_number=-1", "pr_number"],
    ["level=VERBOSE", "level"],
    ["repo=a/b", "repo"],
    ["level=ERROR&level=INFO", "level"],
    [`hook_id=${"x".repeat(300)}`, "hook_id"],
  ];
  for (const [query, field] of badQueries) {
    test(`?${query.slice(0, 40)} is refused with 400 naming ${field}, before any upgrade`, async () => {
      await using server = await startTestServer();
      const response = await fetch(server.httpUrl(`/logs/ws?${query}`), {
        headers: {
          Upgrade: "websocket",
          Connection: "Upgrade",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version": "13",
        },
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: string; field: string };
      expect(body.field).toBe(field);
      expect(body.error).toContain(field);
    });
  }

  test("a WebSocket client sees the refusal as a failed connection", async () => {
    await using server = await startTestServer();
    await expect(wsConnect(server.wsUrl("/logs/ws?pr_number=abc"))).rejects.toThrow("failed");
  });

  test("a plain GET gets 426 with a JSON error", async () => {
    await using server = await startTestServer();
    const response = await fetch(server.httpUrl("/logs/ws"));
    expect(response.status).toBe(426);
    expect(response.headers.get("upgrade")).toBe("websocket");
    expect(((await response.json()) as { error: string }).error).toContain("WebSocket");
  });

  test("connections past the per-address limit get 503 before the upgrade", async () => {
    await using server = await startTestServer({ env: { MAX_CONNECTIONS_PER_IP: "2" } });
    const a = await wsConnect(server.wsUrl("/logs/ws"));
    const b = await wsConnect(server.wsUrl("/logs/ws"));
    await expect(wsConnect(server.wsUrl("/logs/ws"))).rejects.toThrow("failed");
    a.close();
    await a.closed;
    const health = await (await fetch(server.httpUrl("/health"))).json();
    expect(health).toMatchObject({ connections: 1 });
    const c = await wsConnect(server.wsUrl("/logs/ws"));
    b.close();
    c.close();
  });
});
