/**
 * Runs the recipes' reverse proxies for real (nginx, Caddy from Debian), as non-daemons in a temporary
 * directory, with the recipe's upstream and listen address pointed at a test server and a free port.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "./redis.ts";
import { repoRoot } from "./relay.ts";
import { waitFor } from "./ws.ts";

export interface RunningProxy {
  port: number;
  httpUrl(path: string): string;
  wsUrl(path: string): string;
  /** What the proxy wrote to stderr (and, for nginx, its error log), for failure messages. */
  log(): string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The recipe as shipped, with its upstream (127.0.0.1:5000) replaced. */
export function recipe(path: string, upstreamPort: number): string {
  const text = readFileSync(join(repoRoot, path), "utf8");
  if (!text.includes("127.0.0.1:5000")) throw new Error(`${path} no longer proxies to 127.0.0.1:5000`);
  return text.replaceAll("127.0.0.1:5000", `127.0.0.1:${upstreamPort}`);
}

async function started(
  command: string[],
  dir: string,
  port: number,
  env: Record<string, string>,
  errorLog: string | null,
): Promise<RunningProxy> {
  const child: Subprocess<"ignore", "ignore", "pipe"> = Bun.spawn(command, {
    cwd: dir,
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let stderr = "";
  const pump = (async () => {
    for await (const chunk of child.stderr) stderr += new TextDecoder().decode(chunk);
  })();
  const log = () => {
    let errors = "";
    try {
      errors = errorLog === null ? "" : readFileSync(errorLog, "utf8");
    } catch {
      errors = "(no error log yet)";
    }
    return `${stderr}\n${errors}`;
  };
  const dispose = async () => {
    child.kill("SIGTERM");
    await child.exited;
    await pump;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`${command[0]} exited ${child.exitCode}: ${log()}`);
        return (await fetch(`http://127.0.0.1:${port}/livez`).catch(() => null))?.ok === true;
      },
      10_000,
      `${command[0]} proxying /livez`,
    );
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    port,
    httpUrl: (path) => `http://127.0.0.1:${port}${path}`,
    wsUrl: (path) => `ws://127.0.0.1:${port}${path}`,
    log,
    [Symbol.asyncDispose]: dispose,
  };
}

/** nginx with deploy/nginx/hookstream.conf inside a minimal main configuration of its own. */
export async function startNginx(upstreamPort: number): Promise<RunningProxy> {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-nginx-"));
  const port = await freePort();
  const site = recipe("deploy/nginx/hookstream.conf", upstreamPort).replace(
    /listen 80;/,
    `listen 127.0.0.1:${port};`,
  );
  for (const temp of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, temp));
  writeFileSync(
    join(dir, "nginx.conf"),
    `${process.getuid?.() === 0 ? "user root;\n" : ""}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${site}
}
`,
  );
  return started(
    ["nginx", "-p", dir, "-c", join(dir, "nginx.conf"), "-g", "daemon off;"],
    dir,
    port,
    {},
    join(dir, "error.log"),
  );
}

/** Caddy with deploy/caddy/Caddyfile, its admin endpoint off so several can run at once. */
export async function startCaddy(upstreamPort: number): Promise<RunningProxy> {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-caddy-"));
  const port = await freePort();
  const site = recipe("deploy/caddy/Caddyfile", upstreamPort).replace(
    "http://hookstream.example.com",
    `http://127.0.0.1:${port}`,
  );
  writeFileSync(join(dir, "Caddyfile"), `{\n\tadmin off\n}\n\n${site}`);
  return started(
    ["caddy", "run", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"],
    dir,
    port,
    { HOME: dir, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config") },
    null,
  );
}
