/**
 * What every scenario gets from the orchestrator, and the one way a scenario runs a server: on a fresh file
 * in a fresh directory, stopped (with everything it forked) and cleaned up afterwards whatever happens.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  freePort,
  type PeerInstall,
  type RunningServer,
  type ServerKind,
  type ServerName,
  type StartOptions,
  startServer,
} from "../lib/peers.ts";
import { LOG_FILE_NAME } from "../lib/workload.ts";

export interface BenchContext {
  install: PeerInstall;
  servers: readonly ServerName[];
  quick: boolean;
  /** Base scratch directory of this run (removed at the end). */
  scratch: string;
  log(message: string): void;
}

export interface ServerRun {
  server: RunningServer;
  logFile: string;
  dir: string;
}

let runCounter = 0;

export async function withServer<T>(
  ctx: BenchContext,
  name: ServerKind,
  label: string,
  body: (run: ServerRun) => Promise<T>,
  options: Pick<StartOptions, "cpuProfileDir" | "floorOnInotify" | "hookstreamRoot"> = {},
): Promise<T> {
  const dir = join(ctx.scratch, `${++runCounter}-${label}-${name}`);
  const logDir = join(dir, "logs");
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, LOG_FILE_NAME);
  writeFileSync(logFile, "");
  const server = await startServer(name, ctx.install, {
    logFile,
    dataDir: dir,
    port: await freePort(),
    outputFile: join(dir, "server.out"),
    ...options,
  });
  try {
    return await body({ server, logFile, dir });
  } catch (error) {
    // The server's own last words usually say why the clients failed.
    const output = await Bun.file(join(dir, "server.out"))
      .text()
      .catch(() => "");
    const tail = output.trim().split("\n").slice(-3).join(" | ");
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(tail ? `${message} (server output: ${tail})` : message);
  } finally {
    await server.stop();
    // The log file can be hundreds of MB after a max-rate run; keep the server output only.
    rmSync(logDir, { recursive: true, force: true });
  }
}

/** Servers of this run that can take part in a scenario, with a note for each one that cannot. */
export function available(ctx: BenchContext): ServerName[] {
  return ctx.servers.filter((name) => {
    if (name === "websocketd") return ctx.install.websocketd !== null;
    if (name === "frontail") return ctx.install.frontail !== null;
    return true;
  });
}

export function socketIoClientOf(ctx: BenchContext): string | null {
  return ctx.install.frontail?.socketIoClient ?? null;
}
