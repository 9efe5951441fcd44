/**
 * The deployment recipes that cannot run here (no container engine, no cluster, no Fly): each is verified by
 * the tool that exists (systemd-analyze), or parsed, and checked against what hookstream really is: their
 * environment passes hookstream's own configuration check, their ports, volumes and users are the image's,
 * and the paths their health checks call answer on a real server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type Config, loadConfig } from "../../src/process/config.ts";
import { repoRoot } from "../helpers/relay.ts";
import { requireTool } from "../helpers/requirements.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const read = (path: string) => readFileSync(join(repoRoot, path), "utf8");
const containerfile = read("Containerfile");

/** The environment passes hookstream's configuration check; returns the config it makes. */
function configOf(env: Record<string, string>): Config {
  const loaded = loadConfig(env);
  if (!loaded.ok)
    throw new Error(`invalid environment ${JSON.stringify(env)}: ${loaded.problems.join("; ")}`);
  return loaded.config;
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server[Symbol.asyncDispose]();
});

/** The path answers 200 on a running server. */
async function answers(path: string) {
  expect({ path, status: (await fetch(server.httpUrl(path))).status }).toEqual({ path, status: 200 });
}

test("the image exposes port 5000 and keeps its data in /data", () => {
  expect(containerfile).toMatch(/^EXPOSE 5000$/m);
  expect(containerfile).toMatch(/^VOLUME \["\/data"\]$/m);
});

describe("systemd unit", () => {
  const unit = read("deploy/systemd/hookstream.service");
  const bun = Bun.which("bun") ?? "/usr/local/bin/bun";

  if (requireTool("systemd-analyze", Bun.which("systemd-analyze") !== null, "apt-get install -y systemd"))
    test("passes systemd-analyze verify without a warning", () => {
      const dir = mkdtempSync(join(tmpdir(), "hookstream-unit-"));
      try {
        // The binary's path is the one thing an installation changes.
        writeFileSync(join(dir, "hookstream.service"), unit.replace("/usr/local/bin/bun", bun));
        const result = Bun.spawnSync(["systemd-analyze", "verify", join(dir, "hookstream.service")]);
        expect({ code: result.exitCode, output: `${result.stdout}${result.stderr}`.trim() }).toEqual({
          code: 0,
          output: "",
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

  test("its environment is valid, it stops with SIGTERM and does not restart on a configuration error", () => {
    const env = Object.fromEntries(
      [...unit.matchAll(/^Environment=(\w+)=(.*)$/gm)].map((m) => [m[1] as string, m[2] as string]),
    );
    const config = configOf(env);
    expect(config.host).toBe("127.0.0.1");
    expect(unit).toMatch(/^StateDirectory=hookstream$/m);
    expect(config.dataDir).toBe("/var/lib/hookstream");
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    expect(unit).toMatch(/^RestartPreventExitStatus=2$/m);
  });
});

describe("fly.toml", () => {
  const fly = Bun.TOML.parse(read("deploy/fly/fly.toml")) as {
    build: { dockerfile: string };
    env: Record<string, string>;
    mounts: { destination: string };
    http_service: { internal_port: number; checks: Array<{ path: string }> };
  };

  test("builds the Containerfile, serves its port and mounts its volume", () => {
    const config = configOf(fly.env);
    expect(fly.build.dockerfile).toBe("Containerfile");
    expect(fly.http_service.internal_port).toBe(config.port);
    expect(fly.mounts.destination).toBe(config.dataDir);
  });

  test("checks readiness on a path the server answers", async () => {
    expect(fly.http_service.checks.map((check) => check.path)).toEqual(["/readyz"]);
    for (const check of fly.http_service.checks) await answers(check.path);
  });
});

describe("compose file (cluster mode)", () => {
  const path = "deploy/compose/compose.yaml";
  const compose = Bun.YAML.parse(read(path)) as {
    services: Record<
      string,
      {
        build?: { context: string; dockerfile: string };
        environment?: Record<string, string>;
        volumes?: string[];
      }
    >;
  };
  /** Compose's interpolation of `${NAME:?message}`, `${NAME:-default}` and `$$`, with these variables set. */
  const interpolate = (value: string, vars: Record<string, string>) =>
    value
      .replace(
        /\$\{(\w+)(?::[?-]([^}]*))?\}/g,
        (_, name: string, fallback: string | undefined) => vars[name] ?? fallback ?? "",
      )
      .replaceAll("$$", "$");
  const vars = { REDIS_PASSWORD: "a-redis-password", LOGS_TOKEN: "a-logs-token-of-24-chars" };
  const instances = Object.entries(compose.services).filter(([name]) => name.startsWith("hookstream"));

  test("runs two instances of the image in cluster mode on the Redis beside them", () => {
    expect(instances.length).toBe(2);
    for (const [, service] of instances) {
      const env = Object.fromEntries(
        Object.entries(service.environment ?? {}).map(([key, value]) => [key, interpolate(value, vars)]),
      );
      const config = configOf(env);
      expect(config.cluster?.redisUrl).toBe("redis://:a-redis-password@redis:6379");
      expect(compose.services.redis).toBeDefined();
      const build = service.build as { context: string; dockerfile: string };
      expect(existsSync(join(repoRoot, dirname(path), build.context, build.dockerfile))).toBe(true);
      // Every instance follows the same log directory, read-only; none shares another's data directory.
      expect(service.volumes).toEqual([`gws-logs:${config.logDir}:ro`]);
    }
  });
});

describe("Kubernetes manifests", () => {
  const documents = Bun.YAML.parse(read("deploy/kubernetes/hookstream.yaml")) as Array<{
    kind: string;
    metadata: { name: string };
    // biome-ignore lint/suspicious/noExplicitAny: a manifest is checked field by field below
    spec: any;
  }>;
  const byKind = (kind: string) => {
    const found = documents.find((document) => document.kind === kind);
    if (found === undefined) throw new Error(`no ${kind}`);
    return found;
  };

  test("a Deployment of the image's user, port and volume, with probes on paths the server answers", async () => {
    const deployment = byKind("Deployment");
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const env = Object.fromEntries(
      container.env.map((variable: { name: string; value: string }) => [variable.name, variable.value]),
    );
    const config = configOf(env);
    expect(container.ports).toEqual([{ name: "http", containerPort: config.port }]);
    expect(container.volumeMounts).toContainEqual({ name: "data", mountPath: config.dataDir });
    expect(container.volumeMounts).toContainEqual({
      name: "gws-logs",
      mountPath: config.logDir,
      readOnly: true,
    });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    // One process per data directory: no two pods may hold the volume at once.
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe("Recreate");
    expect(container.livenessProbe.httpGet).toEqual({ path: "/livez", port: "http" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe])
      await answers(probe.httpGet.path);
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
  });

  test("the volume is claimed and the Service reaches the container's port", () => {
    const claim = byKind("PersistentVolumeClaim");
    const pod = byKind("Deployment").spec.template.spec;
    expect(pod.volumes).toContainEqual({
      name: "data",
      persistentVolumeClaim: { claimName: claim.metadata.name },
    });
    const service = byKind("Service");
    expect(service.spec.selector).toEqual(byKind("Deployment").spec.template.metadata.labels);
    expect(service.spec.ports[0].targetPort).toBe(pod.containers[0].ports[0].name);
  });
});
