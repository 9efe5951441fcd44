/**
 * The relays the relay benchmark compares, each started fresh, pinned to one CPU with `taskset`, and stopped
 * with everything it forked:
 *
 * - `nostore`: bench/peers/nostore-relay.mjs under Node (`node:http` + `ws`, nothing stored): the peer a
 *   user would script, and the goals' reference;
 * - `durable-floor`: bench/peers/durable-floor-relay.ts under Bun: the signature checked, the body appended to
 *   a file and fdatasynced (group commit) before the 200: the least a Bun server does under hookstream's
 *   durability contract;
 * - `sqlite-floor`: the same with each body a row of a one-table bun:sqlite database (STORE=sqlite): what
 *   the contract costs on the store hookstream uses, before any of hookstream's own schema and code;
 * - `smee`: smee.io's own server (github.com/probot/smee.io, Fastify, event-stream subscribers, nothing
 *   stored), installed into bench/.peers/smee.io from SMEE_IO_GIT_DIR (a clone or bare mirror) or a shallow
 *   clone from GitHub, with its production dependencies only;
 * - `hookstream`: `bun src/main.ts` with the durable store (RELAY_DURABILITY=full: every 2xx after an fsynced
 *   group commit) and a GitHub secret on the input, so every body's signature is checked;
 * - `hookstream-normal`: the same with RELAY_DURABILITY=normal (every 2xx after the commit, the WAL synced by
 *   SQLite's checkpoints, not per commit): what the fsync costs, for operators choosing the setting.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cli } from "../relay.ts";
import { stopChild, track, withOpenFilesLimit } from "./children.ts";
import { freePort, REPO_ROOT } from "./peers.ts";
import type { SubscribeProtocol } from "./relay-subscribe.ts";

export const RELAY_SERVERS = [
  "nostore",
  "durable-floor",
  "sqlite-floor",
  "smee",
  "hookstream",
  "hookstream-normal",
] as const;
/**
 * `baseline`: hookstream from another checkout (RELAY_BENCH_BASELINE=<dir>), measured in the same rounds
 * as this one, for a before/after of one change on a machine whose load moves.
 */
export type RelayServerName = (typeof RELAY_SERVERS)[number] | "baseline";

/** The secret GitHub would sign with; hookstream's input checks it. */
export const BENCH_GITHUB_SECRET = "bench-webhook-secret-0123456789";

const SMEE_DIR = join(REPO_ROOT, "bench/.peers/smee.io");
const SMEE_REPO = "https://github.com/probot/smee.io";
/** smee.io's channel names: letters, digits, `-` and `_`. */
const SMEE_CHANNEL = "bench-channel";

export interface RelayServer {
  readonly name: RelayServerName;
  readonly pid: number;
  /** Where webhooks are POSTed. */
  readonly inputUrl: string;
  readonly subscribe: { protocol: SubscribeProtocol; url: string; key: string; secret: string };
  /** Only hookstream checks signatures; the driver signs for every server alike. */
  readonly checksSignatures: boolean;
  stop(): Promise<void>;
}

function run(cmd: string[], cwd?: string): { ok: boolean; output: string } {
  const result = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", ...(cwd ? { cwd } : {}) });
  return { ok: result.exitCode === 0, output: `${result.stdout.toString()}${result.stderr.toString()}` };
}

/** Installs smee.io once; returns its directory and the commit it came from. */
export function ensureSmee(notes: string[]): { dir: string; commit: string } | null {
  const commitFile = join(SMEE_DIR, ".commit");
  if (existsSync(join(SMEE_DIR, "node_modules/fastify")) && existsSync(commitFile))
    return { dir: SMEE_DIR, commit: readFileSync(commitFile, "utf8").trim() };
  if (Bun.which("node") === null || Bun.which("npm") === null) {
    notes.push("smee.io skipped: node and npm are needed to run it");
    return null;
  }
  mkdirSync(SMEE_DIR, { recursive: true });
  let gitDir = process.env.SMEE_IO_GIT_DIR;
  if (gitDir === undefined) {
    gitDir = join(REPO_ROOT, "bench/.peers/smee.io.git");
    if (!existsSync(gitDir) && !run(["git", "clone", "--bare", "--depth", "1", SMEE_REPO, gitDir]).ok) {
      notes.push(`smee.io skipped: cannot clone ${SMEE_REPO} (set SMEE_IO_GIT_DIR to a clone)`);
      return null;
    }
  }
  const unpack = run(["sh", "-c", `git --git-dir="$0" archive HEAD | tar -x -C "$1"`, gitDir, SMEE_DIR]);
  const commit = run(["git", "--git-dir", gitDir, "rev-parse", "--short", "HEAD"]).output.trim();
  if (!unpack.ok) {
    notes.push(`smee.io skipped: ${unpack.output.trim()}`);
    return null;
  }
  console.log("installing smee.io's dependencies: npm install --omit=dev");
  const install = run(["npm", "install", "--omit=dev", "--no-audit", "--no-fund"], SMEE_DIR);
  if (!install.ok) {
    notes.push(`smee.io skipped: npm install failed: ${install.output.trim().split("\n").pop()}`);
    return null;
  }
  // The page's bundle comes from a webpack build (dev dependencies); the server only reads the files at start.
  for (const file of ["main.min.css", "main.min.js"]) writeFileSync(join(SMEE_DIR, "public", file), "");
  writeFileSync(commitFile, commit);
  notes.push(`smee.io ${commit} installed in bench/.peers/smee.io (npm install --omit=dev)`);
  return { dir: SMEE_DIR, commit };
}

/** Resolves once `url` answers at all; throws when the server exits first or after `timeoutMs`. */
export async function waitAnswering(url: string, proc: Subprocess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${url}: the server exited with ${proc.exitCode}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await Bun.sleep(50);
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

function spawnPinned(name: string, cpu: string, cmd: string[], env: Record<string, string>, cwd?: string) {
  const proc = Bun.spawn(withOpenFilesLimit(["taskset", "-c", cpu, ...cmd]), {
    env: { ...process.env, ...env },
    stdout: "ignore",
    stderr: "inherit",
    ...(cwd ? { cwd } : {}),
  });
  track(name, proc, false);
  return proc;
}

export interface StartRelayOptions {
  cpu: string;
  scratch: string;
  smeeDir: string | null;
}

/** Starts one relay and waits until it answers. */
export async function startRelayServer(
  name: RelayServerName,
  options: StartRelayOptions,
): Promise<RelayServer> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = { PORT: String(port) };
  const node = Bun.which("node") ?? "node";
  const stopOf = (proc: Subprocess) => async () => void (await stopChild(proc));
  /** A calibration relay: POST anywhere, every body relayed unchanged to every WebSocket at `/`. */
  const plainRelay = async (cmd: string[], extraEnv: Record<string, string>, checksSignatures: boolean) => {
    const proc = spawnPinned(name, options.cpu, cmd, { ...env, ...extraEnv });
    await waitAnswering(base, proc, 10_000);
    return {
      name,
      pid: proc.pid,
      inputUrl: `${base}/hook`,
      subscribe: { protocol: "plain" as const, url: `ws://127.0.0.1:${port}/`, key: "", secret: "" },
      checksSignatures,
      stop: stopOf(proc),
    };
  };
  if (name === "nostore")
    return plainRelay([node, join(REPO_ROOT, "bench/peers/nostore-relay.mjs")], {}, false);
  if (name === "durable-floor" || name === "sqlite-floor")
    return plainRelay(
      [process.execPath, join(REPO_ROOT, "bench/peers/durable-floor-relay.ts")],
      {
        STORE: name === "sqlite-floor" ? "sqlite" : "file",
        FILE: join(options.scratch, `${name}-${port}`),
        SECRET: BENCH_GITHUB_SECRET,
      },
      true,
    );
  if (name === "smee") {
    if (options.smeeDir === null) throw new Error("smee.io is not installed");
    const proc = spawnPinned(name, options.cpu, [node, "index.js"], env, options.smeeDir);
    await waitAnswering(base, proc, 20_000);
    return {
      name,
      pid: proc.pid,
      inputUrl: `${base}/${SMEE_CHANNEL}`,
      subscribe: { protocol: "sse", url: `${base}/${SMEE_CHANNEL}`, key: "", secret: "" },
      checksSignatures: false,
      stop: stopOf(proc),
    };
  }
  const root = name === "baseline" ? (process.env.RELAY_BENCH_BASELINE ?? REPO_ROOT) : REPO_ROOT;
  const dataDir = join(options.scratch, `relay-${port}`);
  mkdirSync(dataDir, { recursive: true });
  const bucket = (await cli(dataDir, ["bucket", "create", "bench"], {}, root)) as {
    inputs: Array<{ id: string }>;
  };
  const inputId = bucket.inputs[0]?.id;
  if (inputId === undefined) throw new Error("the CLI created a bucket without an input");
  // `input set-secret` answers in text only.
  const setSecret = Bun.spawnSync(
    [process.execPath, join(root, "src/cli.ts"), "input", "set-secret", inputId, BENCH_GITHUB_SECRET],
    { env: { ...process.env, DATA_DIR: dataDir }, stdout: "pipe", stderr: "pipe" },
  );
  if (setSecret.exitCode !== 0) throw new Error(`input set-secret failed: ${setSecret.stderr.toString()}`);
  const token = (await cli(dataDir, ["token", "create"], {}, root)) as { key: string; secret: string };
  const proc = spawnPinned(name, options.cpu, [process.execPath, join(root, "src/main.ts")], {
    ...env,
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    RELAY_DURABILITY: name === "hookstream-normal" ? "normal" : "full",
    MAX_CONNECTIONS: "20000",
    MAX_CONNECTIONS_PER_IP: "20000",
    // A CPU profile of the server into this directory, for finding where ingest spends its time.
    ...(process.env.RELAY_BENCH_CPU_PROF
      ? { BUN_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.RELAY_BENCH_CPU_PROF}` }
      : {}),
  });
  await waitAnswering(`${base}/livez`, proc, 20_000);
  return {
    name,
    pid: proc.pid,
    inputUrl: `${base}/v1/webhooks/${inputId}`,
    subscribe: { protocol: "relay", url: `ws://127.0.0.1:${port}/v1/socket`, ...token },
    checksSignatures: true,
    stop: stopOf(proc),
  };
}
