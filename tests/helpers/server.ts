/** Starts the real server on port 0 over a fresh temporary data directory. */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, loadConfig } from "../../src/process/config.ts";
import { type LogFn, type RunningServer, startServer } from "../../src/server.ts";

export interface TestServer extends RunningServer {
  dataDir: string;
  logDir: string;
  config: Config;
  wsUrl(path: string): string;
  httpUrl(path: string): string;
  /** Shuts down (if not yet) and removes the data directory. */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  /** Create the log directory before starting (default true). */
  createLogDir?: boolean;
  /** Files to write before the server starts (followed from their end, like any existing file). */
  files?: Record<string, string>;
  log?: LogFn;
  /** Reuse this data directory (a restart) instead of a fresh one. */
  dataDir?: string;
  /** Leave the data directory in place when disposed, for a restart. */
  keepDataDir?: boolean;
}

export const quietLog: LogFn = (level, message) => {
  if (level === "error") console.error(`[server] ${message}`);
};

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "hookstream-test-"));
  const logDir = join(dataDir, "logs");
  if (options.createLogDir !== false) mkdirSync(logDir, { recursive: true });
  for (const [name, content] of Object.entries(options.files ?? {}))
    await Bun.write(join(logDir, name), content);
  const loaded = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    LOG_POLL_INTERVAL_MS: "50",
    SHUTDOWN_GRACE_MS: "2000",
    ...options.env,
  });
  if (!loaded.ok) throw new Error(loaded.problems.join("; "));
  const running = await startServer(loaded.config, options.log ?? quietLog);
  const base = `127.0.0.1:${running.server.port}`;
  return {
    ...running,
    dataDir,
    logDir,
    config: loaded.config,
    wsUrl: (path) => `ws://${base}${path}`,
    httpUrl: (path) => `http://${base}${path}`,
    async [Symbol.asyncDispose]() {
      await running.shutdown();
      if (!options.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
