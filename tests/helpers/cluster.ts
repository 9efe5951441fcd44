/**
 * Log-stream cluster helpers: in-process instances sharing one Redis (and, when asked, one log directory),
 * and a reader of the writer lease. Real server processes come from relay-cluster.ts's spawnInstance.
 */
import { afterAll, beforeAll } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRedis, type TestRedis } from "./redis.ts";
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

/** Env that puts an instance into cluster mode on this Redis, under a key prefix of its own test. */
export function clusterEnv(redis: TestRedis, prefix: string): Record<string, string> {
  return { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, RELAY_RECHECK_MS: "100" };
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

export interface ClusterOfOptions {
  /** Instances started at once, in order (the first usually takes the writer lease); more come from `add`. */
  instances?: number;
  /** Every instance follows one temporary directory (the default); false: each follows its own. */
  sharedLogDir?: boolean;
  /** Files written into the shared directory before the first instance starts. */
  files?: Record<string, string>;
  leaseMs?: number;
  /** Added to every instance's environment. */
  env?: Record<string, string>;
}

/** Instances in cluster mode under one fresh key prefix, disposed (last started first) with their directory. */
export interface InstanceCluster {
  prefix: string;
  /** The shared log directory (throws when each instance follows its own). */
  readonly logDir: string;
  /** In the order they started, including those `add` started. */
  instances: TestServer[];
  /** The instance started `index`-th (from 0); throws if there is none. */
  at(index: number): TestServer;
  /** Starts one more instance with the cluster's settings; `options` overrides them. */
  add(options?: ClusterOptions): Promise<TestServer>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function clusterOf(redis: TestRedis, options: ClusterOfOptions = {}): Promise<InstanceCluster> {
  const prefix = uniquePrefix();
  const dir = options.sharedLogDir === false ? null : sharedLogDir();
  for (const [name, text] of Object.entries(options.files ?? {})) {
    if (dir === null) throw new Error("files need the shared log directory");
    appendTo(dir.path, name, text);
  }
  const instances: TestServer[] = [];
  const add = async (overrides: ClusterOptions = {}): Promise<TestServer> => {
    const instance = await startInstance(redis, prefix, {
      ...(dir === null ? {} : { logDir: dir.path }),
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
      ...overrides,
      env: { ...options.env, ...overrides.env },
    });
    instances.push(instance);
    return instance;
  };
  const cluster: InstanceCluster = {
    prefix,
    get logDir() {
      if (dir === null) throw new Error("each instance of this cluster follows its own log directory");
      return dir.path;
    },
    instances,
    at(index) {
      const instance = instances[index];
      if (instance === undefined)
        throw new Error(`the cluster has ${instances.length} instances, not ${index + 1}`);
      return instance;
    },
    add,
    async [Symbol.asyncDispose]() {
      for (const instance of instances.toReversed()) await instance[Symbol.asyncDispose]();
      dir?.[Symbol.dispose]();
    },
  };
  try {
    for (let index = 0; index < (options.instances ?? 0); index++) await add();
  } catch (error) {
    await cluster[Symbol.asyncDispose]();
    throw error;
  }
  return cluster;
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
