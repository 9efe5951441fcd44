import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../src/app.ts";
import { createHistoryIndex } from "../src/history/chunk-index.ts";
import { createLogsAccess } from "../src/http/logs-access.ts";
import { createLogFollower } from "../src/logs/follow.ts";
import { openJournal } from "../src/logs/journal.ts";
import { createLogHub } from "../src/logs/log-hub.ts";
import { loadConfig } from "../src/process/config.ts";
import { createAuthLimiter } from "../src/transport/auth-limiter.ts";
import { createConnectionLimiter } from "../src/transport/connections.ts";
import { connectLogs } from "./helpers/logs.ts";
import { startTestServer } from "./helpers/server.ts";
import { waitFor, wsConnect } from "./helpers/ws.ts";

const repoRoot = join(import.meta.dir, "..");

/** Starts `bun src/main.ts` as users do and waits for its listening line; returns the process and port. */
async function spawnMain(env: Record<string, string>) {
  const child = Bun.spawn(["bun", "src/main.ts"], {
    cwd: repoRoot,
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = child.stdout.getReader();
  let output = "";
  const deadline = Date.now() + 10_000;
  while (!/listening on [^:]+:(\d+)/.test(output)) {
    if (Date.now() > deadline) throw new Error(`server did not start: ${output}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${output}${await new Response(child.stderr).text()}`);
    output += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const port = Number(/listening on [^:]+:(\d+)/.exec(output)?.[1]);
  return { child, port };
}

describe("shutdown", () => {
  test("every client, whatever its filters, sees 1001 Server shutdown", async () => {
    await using server = await startTestServer();
    const clients = [
      await connectLogs(server),
      await connectLogs(server, "level=ERROR"),
      await connectLogs(server, "repository=a/b&pr_number=3"),
    ];
    await server.shutdown();
    for (const client of clients)
      expect(await client.closed).toEqual({ code: 1001, reason: "Server shutdown" });
  });

  test("health and new upgrades answer 503 once shutdown has begun", async () => {
    let shuttingDown = false;
    const hub = createLogHub({ publish: () => {}, redact: true });
    const follower = createLogFollower({
      dir: join(tmpdir(), "hookstream-no-such-dir"),
      pollIntervalMs: 1000,
      parse: { naiveZone: "Z" },
      emit: () => {},
      log: () => {},
    });
    const journalDir = mkdtempSync(join(tmpdir(), "hookstream-journal-"));
    const journal = openJournal({ dir: journalDir, segmentBytes: 1 << 20, maxBytes: 1 << 24, log: () => {} });
    const app = createApp({
      log: () => {},
      access: createLogsAccess({ token: null, limiter: createAuthLimiter({ maxFailures: 10 }) }),
      redactSecrets: true,
      allowedHosts: [],
      history: {
        index: createHistoryIndex({
          dir: join(tmpdir(), "hookstream-no-such-dir"),
          parse: { naiveZone: "Z" },
          cacheChunks: 4,
          redact: true,
          log: () => {},
        }),
        budgetMs: 1000,
      },
      logs: {
        hub,
        follower,
        journal,
        stats: { catchingUp: 0, closedTooSlow: 0, closedBehindRetention: 0, gapsReported: 0 },
        limits: { catchUpHighWaterBytes: 1 << 16, stallTimeoutMs: 1000 },
      },
      limiter: createConnectionLimiter({ max: 10, maxPerIp: 10 }),
      openSockets: () => 0,
      lifecycle: { startedAt: Date.now(), isShuttingDown: () => shuttingDown },
    });
    expect((await app.request("/health")).status).toBe(200);
    shuttingDown = true;
    const health = await app.request("/health");
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: "shutting_down" });
    expect((await app.request("/logs/ws", { headers: { Upgrade: "websocket" } })).status).toBe(503);
    journal.close();
    rmSync(journalDir, { recursive: true, force: true });
  });

  test("a client that never answers the close handshake cannot hold shutdown past the grace period", async () => {
    await using server = await startTestServer({ env: { SHUTDOWN_GRACE_MS: "300" } });
    const silent = await Bun.connect({
      hostname: "127.0.0.1",
      port: server.server.port as number,
      socket: { data() {} },
    });
    silent.write(
      "GET /logs/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    await waitFor(
      async () =>
        ((await (await fetch(server.httpUrl("/health"))).json()) as { connections: number }).connections ===
        1,
    );
    const started = performance.now();
    await server.shutdown();
    expect(performance.now() - started).toBeLessThan(5000);
    silent.end();
  });

  test("SIGTERM on the real process closes clients with 1001 and exits 0", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hookstream-main-"));
    mkdirSync(join(dataDir, "logs"));
    try {
      const { child, port } = await spawnMain({ DATA_DIR: dataDir });
      const client = await wsConnect(`ws://127.0.0.1:${port}/logs/ws?level=ERROR`);
      const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
      expect(health).toMatchObject({ status: "ok", connections: 1 });
      child.kill("SIGTERM");
      expect(await client.closed).toEqual({ code: 1001, reason: "Server shutdown" });
      expect(await child.exited).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("a second process on a DATA_DIR in use is refused; the lock goes with a clean stop, a stale one is taken", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hookstream-main-"));
    mkdirSync(join(dataDir, "logs"));
    try {
      const { child } = await spawnMain({ DATA_DIR: dataDir });
      const second = Bun.spawn(["bun", "src/main.ts"], {
        cwd: repoRoot,
        env: { ...process.env, HOST: "127.0.0.1", PORT: "0", DATA_DIR: dataDir },
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(await second.exited).toBe(1);
      expect(await new Response(second.stderr).text()).toContain(`is in use by process ${child.pid}`);
      child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
      expect(existsSync(join(dataDir, "hookstream.pid"))).toBe(false);
      // A lock left by a process that no longer runs (killed, or a previous container) is taken over.
      const gone = Bun.spawn(["true"]);
      await gone.exited;
      writeFileSync(join(dataDir, "hookstream.pid"), `${gone.pid}\n`);
      const again = await spawnMain({ DATA_DIR: dataDir });
      again.child.kill("SIGTERM");
      expect(await again.child.exited).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("SIGINT does the same", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hookstream-main-"));
    try {
      const { child, port } = await spawnMain({ DATA_DIR: dataDir });
      const client = await wsConnect(`ws://127.0.0.1:${port}/logs/ws`);
      child.kill("SIGINT");
      expect((await client.closed).code).toBe(1001);
      expect(await child.exited).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("health", () => {
  test("reports status, uptime, connections and watched files", async () => {
    await using server = await startTestServer({
      files: { "server.log": "", "webhooks_2026-11-23.json": "", "notes.txt": "" },
    });
    const client = await connectLogs(server);
    const response = await fetch(server.httpUrl("/health"));
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: "ok", connections: 1, log_directory: { exists: true } });
    expect(typeof body.uptime_s).toBe("number");
    expect((body.watched_files as string[]).map((p) => p.split("/").pop()).sort()).toEqual([
      "server.log",
      "webhooks_2026-11-23.json",
    ]);
    client.close();
    await waitFor(
      async () =>
        ((await (await fetch(server.httpUrl("/health"))).json()) as { connections: number }).connections ===
        0,
    );
  });
});

describe("configuration", () => {
  test("defaults follow the documented values", () => {
    const loaded = loadConfig({});
    if (!loaded.ok) throw new Error(loaded.problems.join());
    expect(loaded.config).toMatchObject({ port: 5000, host: "0.0.0.0", redactSecrets: true });
    expect(loaded.config.logDir).toBe(join(loaded.config.dataDir, "logs"));
    expect(loaded.config.dataDir).toBe(join(process.cwd(), "data"));
  });

  const bad: Array<[string, Record<string, string>, string]> = [
    ["a port out of range", { PORT: "70000" }, "PORT"],
    ["a port that is not a number", { PORT: "http" }, "PORT"],
    ["a boolean that is not one", { REDACT_SECRETS: "maybe" }, "REDACT_SECRETS"],
    ["a zone that is not an offset", { LOG_NAIVE_TIMEZONE: "Europe/Paris" }, "LOG_NAIVE_TIMEZONE"],
  ];
  for (const [name, env, field] of bad) {
    test(`${name} is reported by name`, () => {
      const loaded = loadConfig(env);
      expect(loaded.ok).toBe(false);
      if (!loaded.ok) expect(loaded.problems.join("\n")).toContain(field);
    });
  }

  /** Runs `bun src/main.ts` until it exits; its exit code and standard error. */
  const runMain = async (env: Record<string, string>) => {
    const child = Bun.spawn(["bun", "src/main.ts"], {
      cwd: repoRoot,
      env: { ...process.env, HOST: "127.0.0.1", PORT: "0", ...env },
      stdout: "pipe",
      stderr: "pipe",
      timeout: 10_000,
    });
    const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
    return { code, stderr };
  };

  test("a DATA_DIR that is a file exits 2 with one sentence naming it, no stack trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hookstream-datadir-"));
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "x");
    try {
      const { code, stderr } = await runMain({ DATA_DIR: file });
      expect(code).toBe(2);
      expect(stderr).toContain(`DATA_DIR ${file}`);
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(stderr.trim().split("\n")).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a corrupted database exits 1 with a message naming its file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hookstream-datadir-"));
    const database = join(dir, "hookstream.db");
    writeFileSync(database, Buffer.alloc(8192, 0x5a));
    try {
      const { code, stderr } = await runMain({ DATA_DIR: dir });
      expect(code).toBe(1);
      expect(stderr).toContain(database);
      expect(stderr).toContain("file is not a database");
      expect(stderr).not.toMatch(/^\s+at /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the process exits with code 2 and a clear message on a bad value", async () => {
    const child = Bun.spawn(["bun", "src/main.ts"], {
      cwd: repoRoot,
      env: { ...process.env, PORT: "not-a-port" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await child.exited).toBe(2);
    const stderr = await new Response(child.stderr).text();
    expect(stderr).toContain("invalid configuration");
    expect(stderr).toContain("PORT");
  });
});
