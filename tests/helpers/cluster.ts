/**
 * Cluster-mode test helpers: instances of the real server sharing one Redis (and, when asked, one log
 * directory), a real server process that can be killed, and a reader of the shared log keys.
 */
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { TestRedis } from "./redis.ts";
import { repoRoot } from "./relay.ts";
import { startTestServer, type TestServer, type TestServerOptions } from "./server.ts";
import { waitFor } from "./ws.ts";

/** A key prefix no other test uses, so tests can share one Redis. */
export function uniquePrefix(): string {
  return `t${crypto.randomUUID().slice(0, 8)}:`;
}

export interface ClusterOptions extends TestServerOptions {
  /** Follow this directory instead of the instance's own `<data>/logs`. */
  logDir?: string;
  leaseMs?: number;
}

/** An in-process instance in cluster mode. */
export function startInstance(
  redis: TestRedis,
  prefix: string,
  options: ClusterOptions = {},
): Promise<TestServer> {
  return startTestServer({
    ...options,
    env: {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
      CLUSTER_LEASE_MS: String(options.leaseMs ?? 1000),
      ...(options.logDir === undefined ? {} : { LOG_DIR: options.logDir }),
      ...options.env,
    },
  });
}

/** A temporary log directory for several instances; removed when disposed. */
export function sharedLogDir(): { path: string; [Symbol.dispose](): void } {
  const path = mkdtempSync(join(tmpdir(), "hookstream-shared-logs-"));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

/** Appends to a file of a log directory. */
export function appendTo(dir: string, name: string, text: string): void {
  appendFileSync(join(dir, name), text);
}

/** The instance id holding the writer lease, or null. */
export async function leaseHolder(redis: TestRedis, prefix: string): Promise<string | null> {
  const value = await redis.cli("GET", `${prefix}logs:writer`);
  return value === "" ? null : (value.split("/")[0] ?? null);
}

export async function waitForLeaseHolder(
  redis: TestRedis,
  prefix: string,
  accept: (holder: string | null) => boolean,
  timeoutMs = 5000,
): Promise<string | null> {
  let holder: string | null = null;
  await waitFor(
    async () => {
      holder = await leaseHolder(redis, prefix);
      return accept(holder);
    },
    timeoutMs,
    "writer lease",
  );
  return holder;
}

export interface ServerProcess {
  process: Subprocess;
  port: number;
  dataDir: string;
  wsUrl(path: string): string;
  kill(signal: "SIGKILL" | "SIGTERM"): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Runs `bun src/main.ts` in a process of its own, on a free port, in cluster mode. */
export async function spawnInstance(
  redis: TestRedis,
  prefix: string,
  options: { logDir: string; leaseMs?: number; env?: Record<string, string> },
): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), "hookstream-proc-"));
  const process = Bun.spawn(["bun", "src/main.ts"], {
    cwd: repoRoot,
    env: {
      ...Bun.env,
      PORT: "0",
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      LOG_DIR: options.logDir,
      LOG_POLL_INTERVAL_MS: "50",
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
      CLUSTER_LEASE_MS: String(options.leaseMs ?? 1000),
      ...options.env,
    },
    stdout: "pipe",
    stderr: "inherit",
  });
  const port = await listeningPort(process.stdout as ReadableStream<Uint8Array>);
  const kill = async (signal: "SIGKILL" | "SIGTERM") => {
    process.kill(signal);
    await process.exited;
  };
  return {
    process,
    port,
    dataDir,
    wsUrl: (path) => `ws://127.0.0.1:${port}${path}`,
    kill,
    async [Symbol.asyncDispose]() {
      if (process.exitCode === null && process.signalCode === null) await kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Reads the server's stdout until it says where it listens; keeps draining it afterwards. */
async function listeningPort(stdout: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
    const match = /listening on [^\s]+:(\d+)/.exec(text);
    if (match !== null) {
      void (async () => {
        while (!(await reader.read()).done) {}
      })();
      return Number(match[1]);
    }
  }
  throw new Error(`server process did not report its port:\n${text}`);
}
