/** Hostile input on the log side: every case gets a clear outcome, nothing is silently lost, nothing crashes. */
import { describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { append, connectLogs, seqOf, textLine } from "../helpers/logs.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor, wsConnect } from "../helpers/ws.ts";

interface Entry {
  message: string;
  level: string;
  truncated?: boolean;
}

describe("hostile log content", () => {
  test("a 10 MB line is streamed cut at 1 MiB and marked, and the lines after it are intact", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    append(
      server,
      "server.log",
      `${textLine({ seq: 1 }).trimEnd()} ${"x".repeat(10 * 1024 * 1024)}\n${textLine({ seq: 2 })}`,
    );
    const long = await client.nextJson<Entry>(10_000);
    expect(long.truncated).toBe(true);
    expect(long.message.startsWith("msg 1 xxx")).toBe(true);
    expect(long.message.length).toBeLessThanOrEqual(1024 * 1024);
    expect(long.message.length).toBeGreaterThan(1024 * 1024 - 200); // cut at the line limit, not a read step
    expect(seqOf(await client.next(10_000))).toBe(2);
    const health = (await (await fetch(server.httpUrl("/health"))).json()) as {
      logs: { lines_truncated: number };
    };
    expect(health.logs.lines_truncated).toBe(1);
    client.close();
  });

  test("a 600 KB line, longer than one read step, arrives whole", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    const payload = "y".repeat(600 * 1024);
    append(server, "server.log", `${textLine({ seq: 1 }).trimEnd()} ${payload}\n${textLine({ seq: 2 })}`);
    const entry = await client.nextJson<Entry>(10_000);
    expect(entry.truncated).toBeUndefined();
    expect(entry.message).toBe(`msg 1 ${payload}`);
    expect(seqOf(await client.next(10_000))).toBe(2);
    client.close();
  });

  test("invalid UTF-8 arrives with replacement characters, not dropped", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    const line = Buffer.concat([
      Buffer.from(textLine({ seq: 1 }).trimEnd()),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from("\n"),
    ]);
    append(server, "server.log", line);
    const entry = await client.nextJson<Entry>();
    expect(entry.message).toBe("msg 1\ufffd\ufffd\ufffd");
    client.close();
  });

  test("NUL bytes and terminal control sequences are stripped, the rest of the line is streamed", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    append(server, "server.log", "\u0000\u0000garbage with a NUL\u0000\u001b]0;owned\u0007\u001b[2J\n");
    const entry = JSON.parse(await client.next()) as Entry;
    expect(entry.level).toBe("UNKNOWN");
    expect(entry.message).toBe("garbage with a NUL");
    client.close();
  });

  test("a directory, a symlink loop and a dangling symlink named like log files are skipped", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    mkdirSync(join(server.logDir, "trap.log"));
    symlinkSync(join(server.logDir, "loop-b.log"), join(server.logDir, "loop-a.log"));
    symlinkSync(join(server.logDir, "loop-a.log"), join(server.logDir, "loop-b.log"));
    symlinkSync(join(server.logDir, "nowhere"), join(server.logDir, "dangling.log"));
    const client = await connectLogs(server);
    append(server, "server.log", textLine({ seq: 1 }));
    expect(seqOf(await client.next())).toBe(1);
    const health = (await (await fetch(server.httpUrl("/health"))).json()) as { watched_files: string[] };
    expect(health.watched_files.map((p) => p.split("/").pop())).toEqual(["server.log"]);
    client.close();
  });

  test("a followed file replaced by a directory is dropped and the others go on", async () => {
    await using server = await startTestServer({ files: { "a.log": "", "b.log": "" } });
    const client = await connectLogs(server);
    append(server, "a.log", textLine({ seq: 1 }));
    expect(seqOf(await client.next())).toBe(1);
    unlinkSync(join(server.logDir, "a.log"));
    mkdirSync(join(server.logDir, "a.log"));
    append(server, "b.log", textLine({ seq: 2 }));
    expect(seqOf(await client.next())).toBe(2);
    await waitFor(async () => {
      const health = (await (await fetch(server.httpUrl("/health"))).json()) as { watched_files: string[] };
      return health.watched_files.every((p) => !p.endsWith("a.log"));
    });
    client.close();
  });

  test("a file deleted while tailed: its last lines are still streamed", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    append(server, "server.log", textLine({ seq: 1 }));
    expect(seqOf(await client.next())).toBe(1);
    append(server, "server.log", textLine({ seq: 2 }));
    unlinkSync(join(server.logDir, "server.log"));
    expect(seqOf(await client.next())).toBe(2);
    writeFileSync(join(server.logDir, "server.log"), textLine({ seq: 3 }));
    expect(seqOf(await client.next())).toBe(3);
    client.close();
  });

  test("the log directory deleted and created again: the stream goes on", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    rmSync(server.logDir, { recursive: true });
    await waitFor(async () => {
      const health = (await (await fetch(server.httpUrl("/health"))).json()) as {
        log_directory: { exists: boolean };
      };
      return !health.log_directory.exists;
    });
    mkdirSync(server.logDir);
    writeFileSync(join(server.logDir, "server.log"), textLine({ seq: 7 }));
    expect(seqOf(await client.next())).toBe(7);
    client.close();
  });
});

describe("limits on /logs/ws", () => {
  test("past the global connection limit an upgrade gets 503", async () => {
    await using server = await startTestServer({ env: { MAX_CONNECTIONS: "2" } });
    const a = await wsConnect(server.wsUrl("/logs/ws"));
    const b = await wsConnect(server.wsUrl("/logs/ws"));
    const refused = await fetch(server.httpUrl("/logs/ws"), {
      headers: {
        Upgrade: "websocket",
        Connection: "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
      },
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(((await refused.json()) as { error: string }).error).toBe("Too many connections");
    a.close();
    b.close();
  });

  test("a frame over the payload limit closes the socket with 1009", async () => {
    await using server = await startTestServer({ env: { WS_MAX_PAYLOAD_BYTES: "1024" } });
    const client = await wsConnect(server.wsUrl("/logs/ws"));
    client.send("x".repeat(4096));
    expect((await client.closed).code).toBe(1009);
  });

  test("a flood of client messages is ignored and the stream goes on", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    for (let i = 0; i < 5000; i++) client.send('{"action":"subscribe"}');
    append(server, "server.log", textLine({ seq: 1 }));
    expect(seqOf(await client.next())).toBe(1);
    client.close();
  });

  test("a huge query string is refused over HTTP without taking the server down", async () => {
    await using server = await startTestServer();
    const response = await fetch(server.httpUrl(`/logs/ws?hook_id=${"a".repeat(200_000)}`), {
      headers: { Upgrade: "websocket" },
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect((await fetch(server.httpUrl("/health"))).status).toBe(200);
  });
});

describe("heartbeats", () => {
  test("a peer that never answers pings is closed after the idle timeout; a quiet live client stays", async () => {
    await using server = await startTestServer({ env: { WS_IDLE_TIMEOUT_S: "2" } });
    const quiet = await wsConnect(server.wsUrl("/logs/ws"));
    const { rawConnect } = await import("../helpers/raw-ws.ts");
    const dead = await rawConnect(server.server.port as number, "/logs/ws");
    dead.pause(); // reads nothing, answers nothing: a vanished peer
    await waitFor(
      async () => {
        const health = (await (await fetch(server.httpUrl("/health"))).json()) as { connections: number };
        return health.connections === 1;
      },
      10_000,
      "dead peer closed",
    );
    expect(quiet.socket.readyState).toBe(WebSocket.OPEN);
    dead.end();
    quiet.close();
  }, 15_000);
});
