/**
 * Several hookstream instances sharing one real Redis: in-process servers (`startRelayCluster`), or real
 * processes (`spawnInstance`) for what only a process can do, such as dying to SIGKILL.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { connectRedis } from "../../src/cluster/redis.ts";
import { openRedisStore } from "../../src/cluster/relay-store.ts";
import type { RelayStore } from "../../src/relay/store.ts";
import { clusterOf } from "./cluster.ts";
import { freePort, type TestRedis } from "./redis.ts";
import { type Credentials, issueAdmin, type RelayFixture, relayFixture, repoRoot } from "./relay.ts";
import { quietLog, type TestServer } from "./server.ts";
import { waitFor } from "./ws.ts";

export interface RelayCluster {
  prefix: string;
  /** A connection to the shared store, as the CLI would open it. */
  store: RelayStore;
  admin: Credentials;
  instances: TestServer[];
  /** One per instance: API calls, posts and sockets against that instance. */
  fixtures: RelayFixture[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** Opens the shared store the way the CLI does in cluster mode. */
export async function openSharedStore(
  redis: TestRedis,
  prefix: string,
): Promise<{ store: RelayStore; close(): Promise<void> }> {
  const connection = await connectRedis({ url: redis.url, log: quietLog });
  const store = await openRedisStore(connection, { keyPrefix: prefix, log: quietLog });
  return {
    store,
    async close() {
      await store.close();
      connection.close();
    },
  };
}

export async function startRelayCluster(
  redis: TestRedis,
  count: number,
  env: Record<string, string> = {},
): Promise<RelayCluster> {
  const cluster = await clusterOf(redis, { sharedLogDir: false, env });
  const { prefix, instances } = cluster;
  const shared = await openSharedStore(redis, prefix);
  const { store } = shared;
  const admin = await issueAdmin(store);
  for (let index = 0; index < count; index++) await cluster.add();
  const fixtures = await Promise.all(instances.map((server) => relayFixture(server, { store, admin })));
  return {
    prefix,
    store,
    admin,
    instances,
    fixtures,
    async [Symbol.asyncDispose]() {
      await cluster[Symbol.asyncDispose]();
      await shared.close();
    },
  };
}

/** A real `bun src/main.ts` process. */
export interface SpawnedInstance {
  port: number;
  dataDir: string;
  httpUrl(path: string): string;
  wsUrl(path: string): string;
  process: Subprocess;
  [Symbol.asyncDispose](): Promise<void>;
}

/** `port`: listen there (with REUSE_PORT=true several instances may share one); default a free one. */
export async function spawnInstance(env: Record<string, string>, port?: number): Promise<SpawnedInstance> {
  port ??= await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "hookstream-instance-"));
  const child = Bun.spawn(["bun", "src/main.ts"], {
    cwd: repoRoot,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, ...env },
    stdout: "ignore",
    stderr: "inherit",
  });
  const httpUrl = (path: string) => `http://127.0.0.1:${port}${path}`;
  await waitFor(
    async () => {
      try {
        return (await fetch(httpUrl("/health"))).ok;
      } catch {
        return false;
      }
    },
    15_000,
    `instance on port ${port} answers /health`,
  );
  return {
    port,
    dataDir,
    httpUrl,
    wsUrl: (path) => `ws://127.0.0.1:${port}${path}`,
    process: child,
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await child.exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
