/**
 * A real `redis-server` per test file, on a free port, in a temporary directory, with an append-only file
 * fsynced on every write, so a restart (graceful or not) keeps everything Redis acknowledged.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { requireTool } from "./requirements.ts";

export const redisAvailable = requireTool(
  "redis-server",
  Bun.which("redis-server") !== null,
  "apt-get install -y redis-server",
);

export interface TestRedis {
  url: string;
  port: number;
  /** Stops Redis (SIGTERM: it writes its data and exits). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data (nothing when it runs). */
  start(): Promise<void>;
  /** Runs a command with redis-cli and returns its output. */
  cli(...args: string[]): Promise<string>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startRedis(): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-redis-"));
  const port = await freePort();
  let process: Subprocess | null = null;

  const cli = async (...args: string[]) => {
    const result = Bun.spawn(["redis-cli", "-p", String(port), ...args], { stdout: "pipe", stderr: "pipe" });
    const output = await new Response(result.stdout).text();
    await result.exited;
    return output.trim();
  };

  const start = async () => {
    if (process !== null) return;
    process = Bun.spawn(
      [
        "redis-server",
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
      ],
      { stdout: "ignore", stderr: "inherit" },
    );
    for (let attempt = 0; attempt < 100; attempt++) {
      if ((await cli("PING")) === "PONG") return;
      await Bun.sleep(50);
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  };

  const stop = async () => {
    const running = process;
    process = null;
    if (running === null) return;
    running.kill("SIGTERM");
    await running.exited;
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    cli,
    async [Symbol.asyncDispose]() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
