/**
 * Log-stream cluster helpers: in-process instances sharing one Redis (and, when asked, one log directory),
 * and a reader of the writer lease. Real server processes come from relay-cluster.ts's spawnInstance.
 */
import { afterAll, beforeAll } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRedis, type TestRedis } from "./redis.ts";
import { clusterEnv } from "./relay-cluster.ts";
import { startTestServer, type TestServer, type TestServerOptions } from "./server.ts";
import { waitFor } from "./ws.ts";

/**
 * One real Redis for the enclosing `describe`: started in its `beforeAll`, stopped in its `afterAll`. The value
 * returned stands for it from the first test on; tests share it under prefixes of their own (`uniquePrefix`).
 */
export function suiteRedis(): TestRedis {
  let started: TestRedis | null = null;
  const current = (): TestRedis => {
    if (started === null) throw new Error("the suite's Redis starts in beforeAll: use it inside a test");
    return started;
  };
  beforeAll(async () => {
    started = await startRedis();
  });
  afterAll(async () => {
    await started?.[Symbol.asyncDispose]();
    started = null;
  });
  return {
    get url() {
      return current().url;
    },
    get port() {
      return current().port;
    },
    stop: () => current().stop(),
    start: () => current().start(),
    cli: (...args) => current().cli(...args),
    [Symbol.asyncDispose]: () => current()[Symbol.asyncDispose](),
  };
}

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
      ...clusterEnv(redis, prefix),
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
