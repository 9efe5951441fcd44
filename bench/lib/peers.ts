/**
 * The servers under test, each started fresh on a fresh file and stopped with everything it forked:
 * - hookstream: `bun src/main.ts` following `$DATA_DIR/logs`;
 * - websocketd: `websocketd tail -n0 -F <file>` (a `tail` process per connection);
 * - frontail: the npm package under node (one `tail -n 0 -F`, socket.io 2 broadcast of each line);
 * - floor: lib/floor-server.ts, the least a Bun server must do (read, cut lines, publish to one topic), on
 *   a 2 ms poll or, for a trickle, on inotify events;
 * - work-floor: the same adding the least of hookstream's job (parse, serialise, journal each line).
 * The peers are installed on first use: websocketd from Debian, frontail into bench/.peers (gitignored).
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { openFilesLimitOf, stopChild, track, withOpenFilesLimit } from "./children.ts";
import type { ClientKind } from "./client.ts";
import { descendantsOf, type TreeStats, treeStats } from "./proc.ts";

export const SERVER_NAMES = ["hookstream", "websocketd", "frontail"] as const;
export type ServerName = (typeof SERVER_NAMES)[number];
/** Every server a scenario can start: the compared servers, and the floors (lib/floor-server.ts). */
export type ServerKind = ServerName | "floor" | "work-floor";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
const PEERS_DIR = join(REPO_ROOT, "bench/.peers");
const FRONTAIL_VERSION = "4.9.2";
/** frontail 4.9 bundles socket.io 2.3 (engine.io protocol 3): only a 2.x client can talk to it. */
const SOCKET_IO_CLIENT_VERSION = "2.5.0";

/** Settings hookstream runs with here: connection caps raised so 10,000 loopback sockets are admitted. */
export const HOOKSTREAM_ENV = {
  HOST: "127.0.0.1",
  MAX_CONNECTIONS: "20000",
  MAX_CONNECTIONS_PER_IP: "20000",
  SHUTDOWN_GRACE_MS: "1000",
} as const;

export interface PeerInstall {
  websocketd: string | null;
  frontail: { node: string; bin: string; socketIoClient: string } | null;
  notes: string[];
}

function run(cmd: string[]): { ok: boolean; output: string } {
  const result = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { ok: result.exitCode === 0, output: `${result.stdout.toString()}${result.stderr.toString()}` };
}

const isRoot = () => process.getuid?.() === 0;

function ensureWebsocketd(notes: string[]): string | null {
  let path = Bun.which("websocketd");
  if (path !== null) return path;
  if (!isRoot()) {
    notes.push("websocketd missing and not root: install it with `sudo apt-get install -y websocketd`");
    return null;
  }
  console.log("installing websocketd: apt-get install -y websocketd");
  let install = run(["apt-get", "install", "-y", "websocketd"]);
  if (!install.ok) {
    run(["apt-get", "update"]);
    install = run(["apt-get", "install", "-y", "websocketd"]);
  }
  path = Bun.which("websocketd");
  if (path === null)
    notes.push(`websocketd could not be installed: ${install.output.trim().split("\n").pop()}`);
  else notes.push("websocketd installed with apt-get");
  return path;
}

function packageMajor(dir: string): number | null {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version?: string };
    return Number(pkg.version?.split(".")[0]);
  } catch {
    return null;
  }
}

function ensureFrontail(notes: string[]): PeerInstall["frontail"] {
  const node = Bun.which("node");
  if (node === null) {
    notes.push("frontail skipped: node is not installed (frontail is a Node.js program)");
    return null;
  }
  const modules = join(PEERS_DIR, "node_modules");
  const bin = join(modules, "frontail/bin/frontail");
  const client = join(modules, "socket.io-client");
  if (!existsSync(bin) || packageMajor(client) !== 2) {
    const cmd = [
      "npm",
      "install",
      "--no-audit",
      "--no-fund",
      "--prefix",
      PEERS_DIR,
      `frontail@${FRONTAIL_VERSION}`,
      `socket.io-client@${SOCKET_IO_CLIENT_VERSION}`,
    ];
    console.log(`installing frontail: ${cmd.join(" ")}`);
    const install = run(cmd);
    if (!install.ok || !existsSync(bin)) {
      notes.push(`frontail could not be installed: ${install.output.trim().split("\n").pop()}`);
      return null;
    }
    notes.push(
      `frontail ${FRONTAIL_VERSION} and socket.io-client ${SOCKET_IO_CLIENT_VERSION} installed in bench/.peers`,
    );
  }
  return { node, bin, socketIoClient: client };
}

export function ensurePeers(wanted: readonly ServerName[]): PeerInstall {
  const notes: string[] = [];
  return {
    websocketd: wanted.includes("websocketd") ? ensureWebsocketd(notes) : null,
    frontail: wanted.includes("frontail") ? ensureFrontail(notes) : null,
    notes,
  };
}

const INOTIFY_INSTANCES = "/proc/sys/fs/inotify/max_user_instances";

/** System settings changed for a run, restored when it ends (also on Ctrl-C). */
const pendingRestores = new Set<() => void>();

export function restoreSystemSettings(): void {
  for (const restore of [...pendingRestores]) restore();
}

/**
 * websocketd forks one `tail -F` per connection and each holds an inotify instance; the default limit of
 * 128 per user makes the 129th fall back to polling once a second. Raises it (root only) and returns a
 * function that restores the old value, or null when it could not.
 */
export function raiseInotifyInstances(wanted: number): { before: number; restore: () => void } | null {
  const before = Number(readFileSync(INOTIFY_INSTANCES, "utf8").trim());
  if (before >= wanted) return { before, restore: () => {} };
  if (!isRoot()) return null;
  try {
    writeFileSync(INOTIFY_INSTANCES, String(wanted));
  } catch (error) {
    console.error(`cannot raise ${INOTIFY_INSTANCES}: ${String(error)}`);
    return null;
  }
  const restore = () => {
    if (!pendingRestores.delete(restore)) return;
    writeFileSync(INOTIFY_INSTANCES, String(before));
  };
  pendingRestores.add(restore);
  return { before, restore };
}

export interface StartOptions {
  /** The file the server follows; hookstream follows its directory. */
  logFile: string;
  /** hookstream's DATA_DIR (the file lives in `<dataDir>/logs`). */
  dataDir: string;
  port: number;
  /** Where server output goes. */
  outputFile: string;
  /** hookstream only: write a CPU profile into this directory on exit. */
  cpuProfileDir?: string;
  /** hookstream only: run the server of this checkout instead of this one (a before/after comparison). */
  hookstreamRoot?: string;
  /** The floors only: wake on the file's inotify events instead of fs.watch and a 2 ms poll. */
  floorOnInotify?: boolean;
}

export interface RunningServer {
  readonly name: ServerKind;
  readonly pid: number;
  readonly url: string;
  readonly clientKind: ClientKind;
  /** Whether the server forks helpers whose CPU and memory count as its own. */
  readonly forks: boolean;
  readonly openFiles: string;
  stats(): TreeStats;
  /** Waits until the server is ready to stream to `clients` open connections (websocketd: every `tail` holds the file). */
  settle(clients: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const port = probe.port as number;
  await probe.stop(true);
  return port;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await Bun.sleep(25);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function answers(url: string, accept: (response: Response) => Promise<boolean>): Promise<boolean> {
  try {
    return await accept(await fetch(url, { signal: AbortSignal.timeout(1000) }));
  } catch {
    return false;
  }
}

/** `tail` processes under `pid` that hold `file` open. */
function tailsHolding(pid: number, file: string): number {
  let holding = 0;
  for (const child of descendantsOf(pid)) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${child}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${child}/fd/${fd}`) === file) {
          holding++;
          break;
        }
      } catch {
        // The descriptor closed while listing: it holds nothing.
      }
    }
  }
  return holding;
}

/** Time for a socket that just opened to be wired to the stream in every server (subscribe, fork, open). */
const SETTLE_MS = 300;

export async function startServer(
  name: ServerKind,
  install: PeerInstall,
  options: StartOptions,
): Promise<RunningServer> {
  const { logFile, port } = options;
  let cmd: string[];
  let url: string;
  let clientKind: ClientKind = "ws";
  let env: Record<string, string | undefined> = process.env;
  let ready: () => Promise<boolean> | boolean;
  switch (name) {
    case "hookstream": {
      const profile = options.cpuProfileDir
        ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`, "--cpu-prof-name=hookstream.cpuprofile"]
        : [];
      cmd = [process.execPath, ...profile, join(options.hookstreamRoot ?? REPO_ROOT, "src/main.ts")];
      env = { ...process.env, ...HOOKSTREAM_ENV, PORT: String(port), DATA_DIR: options.dataDir };
      url = `ws://127.0.0.1:${port}/logs/ws`;
      ready = () =>
        answers(`http://127.0.0.1:${port}/health`, async (response) => {
          const body = (await response.json()) as { watched_files?: string[] };
          return body.watched_files?.includes(logFile) === true;
        });
      break;
    }
    case "websocketd": {
      if (install.websocketd === null) throw new Error("websocketd is not installed");
      cmd = [
        install.websocketd,
        `--port=${port}`,
        "--address=127.0.0.1",
        "--loglevel=error",
        "tail",
        "-n0",
        "-F",
        logFile,
      ];
      url = `ws://127.0.0.1:${port}/`;
      ready = () => answers(`http://127.0.0.1:${port}/`, async () => true);
      break;
    }
    case "floor":
    case "work-floor": {
      cmd = [process.execPath, join(import.meta.dir, "floor-server.ts"), logFile, String(port)];
      cmd.push(
        name === "work-floor" ? "work" : "plain",
        options.floorOnInotify === true ? "inotify" : "poll",
      );
      url = `ws://127.0.0.1:${port}/`;
      ready = () => answers(`http://127.0.0.1:${port}/`, async (r) => r.ok);
      break;
    }
    case "frontail": {
      if (install.frontail === null) throw new Error("frontail is not installed");
      cmd = [
        install.frontail.node,
        install.frontail.bin,
        "--disable-usage-stats",
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-n",
        "0",
        logFile,
      ];
      // frontail serves the file's lines on the socket.io namespace named after the md5 of its arguments.
      const namespace = createHash("md5").update(logFile).digest("hex");
      url = `http://127.0.0.1:${port}/${namespace}`;
      clientKind = "socketio";
      ready = async () =>
        (await answers(`http://127.0.0.1:${port}/`, async (r) => r.ok)) &&
        tailsHolding(proc.pid, logFile) > 0;
      break;
    }
  }
  const proc: Subprocess = Bun.spawn({
    cmd: withOpenFilesLimit(cmd),
    cwd: REPO_ROOT,
    env,
    detached: true,
    stdio: ["ignore", Bun.file(options.outputFile), Bun.file(options.outputFile)],
  });
  track(name, proc, true);
  try {
    await waitFor(`${name} to listen on ${port}`, 15_000, async () => {
      if (proc.exitCode !== null)
        throw new Error(`${name} exited (${proc.exitCode}); see ${options.outputFile}`);
      return await ready();
    });
  } catch (error) {
    await stopChild(proc);
    throw error;
  }
  const forks = name === "websocketd" || name === "frontail";
  return {
    name,
    pid: proc.pid,
    url,
    clientKind,
    forks,
    openFiles: await openFilesLimitOf(proc.pid),
    stats: () => treeStats(proc.pid),
    async settle(clients, timeoutMs) {
      if (name === "websocketd") {
        await waitFor(`${clients} websocketd tails to open ${logFile}`, timeoutMs, () => {
          return tailsHolding(proc.pid, logFile) >= clients;
        });
      }
      await Bun.sleep(SETTLE_MS);
    },
    async stop() {
      await stopChild(proc);
    },
  };
}
