/**
 * A throwaway `redis-server` for cluster benchmarks: its own temporary directory, a free loopback port,
 * persistence as asked (`appendonly yes`, `appendfsync everysec` by default), ended with the run like every
 * other child (children.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";
import { stopChild, track } from "./children.ts";
import { freePort } from "./peers.ts";

export interface RedisOptions {
  /** `appendfsync` with `appendonly yes`: "everysec" (default), "always" or "no". */
  appendfsync?: "always" | "everysec" | "no";
}

export interface RunningRedis {
  readonly pid: number;
  readonly url: string;
  readonly version: string;
  /** The persistence settings it runs with, for the report. */
  readonly persistence: string;
  /** One INFO section as key → value. */
  info(section: string): Promise<Record<string, string>>;
  send(command: string, args: string[]): Promise<unknown>;
  stop(): Promise<void>;
}

export const REDIS_SERVER = "/usr/bin/redis-server";

export function redisAvailable(): boolean {
  return Bun.which("redis-server") !== null || Bun.file(REDIS_SERVER).size > 0;
}

export async function startRedis(options: RedisOptions = {}): Promise<RunningRedis> {
  const binary = Bun.which("redis-server") ?? REDIS_SERVER;
  const dir = mkdtempSync(join(tmpdir(), "hookstream-bench-redis-"));
  const port = await freePort();
  const appendfsync = options.appendfsync ?? "everysec";
  const logFile = join(dir, "redis.log");
  const proc = Bun.spawn({
    cmd: [
      binary,
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      appendfsync,
      "--save",
      "",
      "--daemonize",
      "no",
      "--logfile",
      logFile,
    ],
    detached: true,
    stdio: ["ignore", "ignore", "ignore"],
  });
  track("redis-server", proc, true);
  const url = `redis://127.0.0.1:${port}`;
  const client = new RedisClient(url, { autoReconnect: false, enableOfflineQueue: false });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      if ((await client.send("PING", [])) === "PONG") break;
    } catch (error) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        const log = (() => {
          try {
            return readFileSync(logFile, "utf8").trim().split("\n").slice(-3).join(" / ");
          } catch {
            return "";
          }
        })();
        await stopChild(proc);
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`redis-server did not start on ${port}: ${String(error)} ${log}`);
      }
      await Bun.sleep(50);
    }
  }
  const info = async (section: string) => {
    const text = String(await client.send("INFO", [section]));
    const fields: Record<string, string> = {};
    for (const line of text.split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0 && !line.startsWith("#")) fields[line.slice(0, colon)] = line.slice(colon + 1);
    }
    return fields;
  };
  const version = (await info("server")).redis_version ?? "?";
  return {
    pid: proc.pid,
    url,
    version,
    persistence: `appendonly yes, appendfsync ${appendfsync}, no RDB snapshots`,
    info,
    send: (command, args) => client.send(command, args),
    async stop() {
      client.close();
      await stopChild(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
