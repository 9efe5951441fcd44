/**
 * /livez, /readyz and the `healthcheck` command against the real server: readiness follows Redis going away
 * and coming back, and shutdown; liveness stays up through both.
 */
import { describe, expect, test } from "bun:test";
import { probeUrl } from "../../src/ops/healthcheck.ts";
import { checkReadiness, type ReadinessSources } from "../../src/ops/probes.ts";
import { startInstance, suiteRedis, uniquePrefix } from "../helpers/cluster.ts";
import { redisAvailable } from "../helpers/redis.ts";
import { runCli } from "../helpers/relay.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

const healthy: ReadinessSources = {
  isShuttingDown: () => false,
  logsRunning: () => true,
  pingStore: async () => 1,
  redisUp: () => true,
};

describe("checkReadiness", () => {
  const cases: Array<[string, Partial<ReadinessSources>, string[]]> = [
    ["an instance with everything running is ready", {}, []],
    ["an instance that is shutting down is not ready", { isShuttingDown: () => true }, ["shutting down"]],
    [
      "an instance whose log side stopped is not ready",
      { logsRunning: () => false },
      ["log follower not running"],
    ],
    [
      "an instance without Redis is not ready and does not wait for the store on top",
      { redisUp: () => false, pingStore: () => new Promise(() => {}) },
      ["Redis unreachable"],
    ],
    [
      "a store that fails names its error",
      { pingStore: async () => Promise.reject(new Error("disk I/O error")) },
      ["relay store unreachable: disk I/O error"],
    ],
    ["an embedded instance has no Redis to check", { redisUp: undefined }, []],
  ];
  for (const [name, override, reasons] of cases)
    test(name, async () => {
      const sources = { ...healthy, ...override };
      if ("redisUp" in override && override.redisUp === undefined) delete sources.redisUp;
      expect(await checkReadiness(sources)).toEqual({ ready: reasons.length === 0, reasons });
    });
});

describe("probeUrl", () => {
  const cases: Array<[string, string, string]> = [
    ["a wildcard IPv4 address is reached over loopback", "0.0.0.0", "http://127.0.0.1:5000/readyz"],
    ["a wildcard IPv6 address is reached over IPv6 loopback", "::", "http://[::1]:5000/readyz"],
    ["a named host is used as it is", "hookstream.internal", "http://hookstream.internal:5000/readyz"],
  ];
  for (const [name, host, url] of cases) test(name, () => expect(probeUrl(host, 5000, "/readyz")).toBe(url));
});

const probe = async (server: TestServer, path: string) => {
  const response = await fetch(server.httpUrl(path));
  return { status: response.status, body: (await response.json()) as { status: string; reasons?: string[] } };
};

const healthcheck = (server: TestServer, ...args: string[]) =>
  healthcheckOn(Number(server.server.port), server, args);

const healthcheckOn = (port: number, server: TestServer, args: string[] = []) =>
  runCli(["healthcheck", ...args], {
    PORT: String(port),
    HOST: "127.0.0.1",
    DATA_DIR: server.dataDir,
  });

describe("embedded instance", () => {
  test("is live and ready once started, and the healthcheck command exits 0", async () => {
    await using server = await startTestServer();
    expect(await probe(server, "/livez")).toEqual({ status: 200, body: { status: "ok" } });
    expect(await probe(server, "/readyz")).toEqual({ status: 200, body: { status: "ready" } });
    const ready = await healthcheck(server);
    expect(ready.code).toBe(0);
    expect(ready.stdout).toContain("/readyz");
    expect((await healthcheck(server, "--live")).code).toBe(0);
    expect((await healthcheck(server, "--bogus")).code).toBe(2);
  });

  test("stops being ready, but stays live, as soon as shutdown begins; the healthcheck then fails", async () => {
    const server = await startTestServer();
    const port = Number(server.server.port);
    const done = server.shutdown();
    // The listener is closing: ask the server's handler directly, in the same turn shutdown began.
    const ready = await server.server.fetch(new Request(`http://127.0.0.1:${port}/readyz`));
    const live = await server.server.fetch(new Request(`http://127.0.0.1:${port}/livez`));
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reasons: string[] }).reasons).toContain("shutting down");
    expect(live.status).toBe(200);
    await done;
    await server[Symbol.asyncDispose]();
    const after = await healthcheckOn(port, server);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain(`127.0.0.1:${port}/readyz`);
  });
});

describe.skipIf(!redisAvailable)("cluster instance", () => {
  const redis = suiteRedis();

  test("is not ready while Redis is away, ready again when it is back, and live throughout", async () => {
    await using server = await startInstance(redis, uniquePrefix());
    expect((await probe(server, "/readyz")).status).toBe(200);

    await redis.stop();
    let down = await probe(server, "/readyz");
    await waitFor(
      async () => {
        down = await probe(server, "/readyz");
        return down.status === 503;
      },
      15_000,
      "readyz answering 503",
    );
    expect(down.body).toEqual({ status: "not_ready", reasons: ["Redis unreachable"] });
    expect((await probe(server, "/livez")).status).toBe(200);
    expect((await healthcheck(server)).code).toBe(1);
    expect((await healthcheck(server, "--live")).code).toBe(0);

    await redis.start();
    await waitFor(
      async () => (await probe(server, "/readyz")).status === 200,
      15_000,
      "readyz answering 200",
    );
    expect((await healthcheck(server)).code).toBe(0);
  }, 40_000);
});
