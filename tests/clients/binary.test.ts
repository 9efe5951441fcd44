/**
 * The single executable (`bun run build:binary`): built into a temporary directory, it serves (page
 * included, bundled at build time), manages buckets and tokens, and runs the clients, all from one file.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ChildProcess, spawnChild } from "../helpers/child.ts";
import { startTarget } from "../helpers/target.ts";
import { waitFor } from "../helpers/ws.ts";

// Real servers and child processes on a shared 2-core machine: more than bun's 5 s default per test.
setDefaultTimeout(20_000);

let dir: string;
let binary: string;
let server: ChildProcess;
let base: string;
const env = () => ({ DATA_DIR: join(dir, "data"), HOST: "127.0.0.1", PORT: "0" });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hookstream-binary-"));
  binary = join(dir, "hookstream");
  const build = spawnChild(["src/build-binary.ts", "--outfile", binary], {}, ["bun"]);
  expect(await build.exited).toBe(0);
  server = spawnChild(["serve"], env(), [binary]);
  const line = await server.waitForLine(/hookstream listening on 127\.0\.0\.1:\d+/, "stdout", 15_000);
  base = `http://127.0.0.1:${/:(\d+),/.exec(line)?.[1]}`;
}, 60_000);

afterAll(async () => {
  server.kill("SIGTERM");
  expect(await server.exited).toBe(0);
  rmSync(dir, { recursive: true, force: true });
});

async function run(args: string[], extra: Record<string, string> = {}) {
  const child = spawnChild(args, { ...env(), ...extra }, [binary]);
  return { code: await child.exited, stdout: child.stdout.join("\n"), stderr: child.stderr.join("\n") };
}

test("the executable serves health and the dashboard page with its assets, bundled at build time", async () => {
  expect(((await (await fetch(`${base}/health`)).json()) as { status: string }).status).toBe("ok");
  const page = await fetch(`${base}/logs`);
  expect(page.status).toBe(200);
  const html = await page.text();
  const script = /src="(\/logs\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  expect(script).toBeDefined();
  const asset = await fetch(`${base}${script}`);
  expect(asset.status).toBe(200);
  expect((await asset.text()).length).toBeGreaterThan(1000);
});

test("the executable manages buckets and tokens, and forwards a webhook to a local app", async () => {
  const bucket = await run(["bucket", "create", "bin", "--json"]);
  expect(bucket.code).toBe(0);
  const input = (JSON.parse(bucket.stdout) as { inputs: Array<{ id: string }> }).inputs[0]?.id as string;
  const token = await run(["token", "create", "--buckets", "bin", "--json"]);
  expect(token.code).toBe(0);
  const { key, secret } = JSON.parse(token.stdout) as { key: string; secret: string };

  using target = startTarget();
  await using agent = spawnChild(
    ["forward", "--url", base, "-t", target.url(), "--cursor-file", join(dir, "c.json")],
    { RELAY_KEY: key, RELAY_SECRET: secret, BUCKETS: "bin" },
    [binary],
  );
  await agent.waitForLine(/subscribed to buckets: bin/, "stderr");
  const posted = await fetch(`${base}/v1/webhooks/${input}`, { method: "POST", body: "from the binary" });
  expect(posted.status).toBe(200);
  await waitFor(() => target.received.length === 1, 10_000, "the forwarded webhook");
  expect(target.texts()).toEqual(["from the binary"]);
});

test("without a command it lists them and exits 2; --help exits 0", async () => {
  const bare = await run([]);
  expect(bare.code).toBe(2);
  expect(bare.stdout).toContain("forward --target URL");
  const help = await run(["--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("replay BUCKET DELIVERY_ID");
});

test("bad usage of a client command exits 2 with its usage text", async () => {
  const result = await run(["tail", "--tail", "x"]);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain("usage: hookstream tail");
});
