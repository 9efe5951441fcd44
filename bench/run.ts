/**
 * `bun run bench`: hookstream against websocketd and frontail on loopback, one table with ratios, targets
 * and pass/miss marks, written to docs/benchmarks.md. Every child process is ended at the end, also on
 * failure or Ctrl-C.
 *
 *   bun bench/run.ts [--only latency,maxrate,...] [--servers hookstream,websocketd] [--quick] [--docs|--no-docs]
 *
 * The cluster section has its own block in the page: `--only cluster` rewrites just that block.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CLUSTER_PARTS, type ClusterPart, clusterDefaults, runClusterBench } from "./cluster.ts";
import { FLOOR_SCENARIOS, type FloorRun, type FloorScenario, runFloorBench } from "./floor.ts";
import { floorBlockOf, renderFloorBlock, renderFloorTable, spliceFloorBlock } from "./floor-report.ts";
import { runHistoryBench } from "./history.ts";
import { installCleanup, OPEN_FILES_LIMIT, stopAll, withOpenFilesLimit } from "./lib/children.ts";
import {
  clusterBlockOf,
  keepLogStreamPart,
  renderClusterBlock,
  renderClusterTable,
  renderLogStreamBlock,
  renderLogStreamTable,
  spliceClusterBlock,
  spliceLogStreamBlock,
} from "./lib/cluster-report.ts";
import {
  ensurePeers,
  HOOKSTREAM_ENV,
  REPO_ROOT,
  restoreSystemSettings,
  SERVER_NAMES,
  type ServerName,
} from "./lib/peers.ts";
import { cpuCounters, machineInfo, stealPercent } from "./lib/proc.ts";
import {
  ANALYSIS_END,
  ANALYSIS_START,
  type BenchResults,
  renderDocs,
  renderProfile,
  renderResults,
} from "./lib/report.ts";
import { runRelayBench } from "./relay.ts";
import { relayBlockOf, renderRelayBlock, spliceRelayBlock } from "./relay-report.ts";
import { runRouting } from "./routing.ts";
import { runCeiling } from "./scenarios/ceiling.ts";
import { available, type BenchContext } from "./scenarios/context.ts";
import { runFanout } from "./scenarios/fanout.ts";
import { runIdle } from "./scenarios/idle.ts";
import { runLatency } from "./scenarios/latency.ts";
import { runMaxRate } from "./scenarios/maxrate.ts";
import { runProfile } from "./scenarios/profile.ts";
import {
  renderTwinsBlock,
  runTwinsBench,
  spliceTwinsBlock,
  type TwinsResult,
  twinsBlockOf,
} from "./twins.ts";
import { describeSource, probeWatch } from "./watch-events.ts";

const SECTIONS = [
  "ceiling",
  "latency",
  "maxrate",
  "fanout",
  "idle",
  "routing",
  "history",
  "relay",
  "cluster",
  "twins",
  "floor",
  "watch",
  "profile",
] as const;
type Section = (typeof SECTIONS)[number];
/** Sections with a block of their own in the page: run alone, they replace only that block. */
const BLOCK_SECTIONS: readonly Section[] = ["cluster", "twins", "floor", "relay"];

const DOCS_FILE = join(REPO_ROOT, "docs/benchmarks.md");
const PROFILE_DIR = join(REPO_ROOT, "bench/profiles");
const USAGE = `usage: bun bench/run.ts [options]
  --only LIST      sections to run, comma-separated: ${SECTIONS.join(",")} (default: all)
  --servers LIST   servers to run: ${SERVER_NAMES.join(",")} (default: all)
  --cluster-parts LIST  parts of the cluster section: ${CLUSTER_PARTS.join(",")} (default: all)
  --floor-scenarios LIST  scenarios of the floor section: ${FLOOR_SCENARIOS.join(",")} (default: all)
  --quick          shorter runs and smaller bursts, for iterating
  --docs           write docs/benchmarks.md even for a partial or quick run
  --no-docs        do not write docs/benchmarks.md (default for partial or quick runs)

--only cluster (not --quick) writes its own block of docs/benchmarks.md and leaves the rest of the page;
with --cluster-parts logs it rewrites only the log-stream part of that block.`;

function parseList<T extends string>(value: string | undefined, allowed: readonly T[], what: string): T[] {
  if (value === undefined) return [...allowed];
  const items = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      console.error(`unknown ${what} "${item}"\n${USAGE}`);
      process.exit(2);
    }
  }
  return items as T[];
}

const { values: flags } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    only: { type: "string" },
    servers: { type: "string" },
    "cluster-parts": { type: "string" },
    "floor-scenarios": { type: "string" },
    quick: { type: "boolean", default: false },
    docs: { type: "boolean" },
    "no-docs": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const sections = parseList<Section>(flags.only, SECTIONS, "section");
const servers = parseList<ServerName>(flags.servers, SERVER_NAMES, "server");
const clusterParts = parseList<ClusterPart>(flags["cluster-parts"], CLUSTER_PARTS, "cluster part");
const floorScenarios = parseList<FloorScenario>(flags["floor-scenarios"], FLOOR_SCENARIOS, "floor scenario");
const quick = flags.quick;
const complete = sections.length === SECTIONS.length && servers.length === SERVER_NAMES.length && !quick;
/** Only sections with their own block ran: the page keeps everything else. */
const blockOnly = sections.every((s) => BLOCK_SECTIONS.includes(s));
/** A floor block of some of its scenarios would drop the others' rows from the page. */
const floorPartial = floorScenarios.length < FLOOR_SCENARIOS.length;
const writeDocs =
  !flags["no-docs"] && (flags.docs === true || complete || (blockOnly && !quick && !floorPartial));

const startedAt = Date.now();
const scratch = mkdtempSync(join(tmpdir(), "hookstream-bench-"));
const elapsed = () => `${((Date.now() - startedAt) / 1000).toFixed(0)} s`;
const log = (message: string) => console.log(message);

installCleanup(async () => {
  await stopAll();
  restoreSystemSettings();
  rmSync(scratch, { recursive: true, force: true });
});

function limitOf(limitsText: string): string {
  const line = limitsText.split("\n").find((l) => l.startsWith("Max open files"));
  return line?.split(/\s{2,}/)[1] ?? "unknown";
}

/** What the open-files limit is here and what the wrapped children get. */
function describeOpenFiles(): string {
  const own = limitOf(readFileSync("/proc/self/limits", "utf8"));
  const child = limitOf(Bun.spawnSync(withOpenFilesLimit(["cat", "/proc/self/limits"])).stdout.toString());
  const raised = Bun.spawnSync(["sh", "-c", `ulimit -n ${OPEN_FILES_LIMIT}`]).exitCode === 0;
  const setrlimit = typeof (process as { setrlimit?: unknown }).setrlimit === "function";
  return (
    `${own} in the orchestrator${setrlimit ? "" : " (Bun has no process.setrlimit)"}; servers and client ` +
    `processes start through \`sh -c 'ulimit -n ${OPEN_FILES_LIMIT} || ulimit -n <hard limit>; exec …'\`` +
    `${raised ? "" : ` (raising past the hard limit is not permitted here)`} and run with ${child}`
  );
}

/** The measured source: commit, whether src/ had uncommitted changes, and the settings it ran with. */
function describeHookstream(): string {
  const git = (args: string[]) =>
    Bun.spawnSync(["git", ...args], { cwd: REPO_ROOT })
      .stdout.toString()
      .trim();
  const commit = git(["rev-parse", "--short", "HEAD"]);
  const dirty = git(["status", "--porcelain", "--", "src"]).length > 0;
  const settings = Object.entries(HOOKSTREAM_ENV)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return `commit ${commit}${dirty ? " with uncommitted changes in src/" : ""}; defaults except ${settings}`;
}

function versionOf(packageJson: string): string {
  try {
    return (JSON.parse(readFileSync(packageJson, "utf8")) as { version?: string }).version ?? "?";
  } catch {
    return "?";
  }
}

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const loadAtStart = loadAverage();
const cpuAtStart = cpuCounters();
/** The CPU the hypervisor took from this machine since the run began (0 on a machine of its own). */
const stealSinceStart = () => `CPU steal ${stealPercent(cpuAtStart, cpuCounters())} % over the run`;
const machine = machineInfo();
log(
  `hookstream benchmark — ${machine.cpus} CPUs, ${machine.memoryGiB} GiB, Bun ${machine.bun}, kernel ${machine.kernel}`,
);
log(`sections: ${sections.join(", ")}; servers: ${servers.join(", ")}${quick ? "; quick" : ""}`);
const openFiles = describeOpenFiles();
log(`open-files limit: ${openFiles}`);

// The block sections run hookstream alone (the floor section beside websocketd): no other peer is needed.
const install = ensurePeers(
  blockOnly ? servers.filter((s) => s === "websocketd" && sections.includes("floor")) : servers,
);
for (const note of install.notes) log(`peers: ${note}`);
const peerVersions: string[] = [];
if (install.websocketd !== null) {
  // dpkg's own format syntax, not a template.
  const format = ["-f=$", "{Version}"].join("");
  const dpkg = Bun.spawnSync(["dpkg-query", "-W", format, "websocketd"]).stdout.toString().trim();
  peerVersions.push(`websocketd ${dpkg || "(version unknown)"} running \`tail -n0 -F\``);
}
if (install.frontail !== null) {
  const modules = join(REPO_ROOT, "bench/.peers/node_modules");
  peerVersions.push(
    `frontail ${versionOf(join(modules, "frontail/package.json"))} (socket.io ${versionOf(join(modules, "socket.io/package.json"))}) ` +
      `with \`--disable-usage-stats\`, read with socket.io-client ${versionOf(join(modules, "socket.io-client/package.json"))}`,
  );
}

const ctx: BenchContext = { install, servers, quick, scratch, log };
const results: BenchResults = {
  ceiling: [],
  latency: [],
  maxRate: [],
  fanout: [],
  idle: [],
  routing: null,
  history: null,
  relay: null,
  cluster: null,
  watch: null,
  profile: null,
  errors: [],
};

async function attempt(what: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`FAILED ${what}: ${message}`);
    results.errors.push(`${what}: ${message}`);
    // Whatever that run left behind must not disturb the next one.
    await stopAll();
  }
}

/** Runs a scenario once per available server, so one server's failure leaves the others' figures. */
async function perServer<T>(section: Section, run: (c: BenchContext) => Promise<T[]>, into: T[]) {
  for (const server of available(ctx)) {
    await attempt(`${section} ${server}`, async () => {
      into.push(...(await run({ ...ctx, servers: [server] })));
    });
  }
}

/** The pairing section's rows: kept apart from BenchResults, it has a block of its own in the page. */
let twins: TwinsResult | null = null;
let floor: FloorRun[] | null = null;
let exitCode = 0;
try {
  for (const section of sections) {
    const sectionStart = Date.now();
    log(`\n## ${section} (at ${elapsed()})`);
    switch (section) {
      case "ceiling": {
        const kinds = [
          ...(servers.includes("hookstream") || servers.includes("websocketd") ? (["ws"] as const) : []),
          ...(install.frontail !== null ? (["socketio"] as const) : []),
        ];
        for (const kind of kinds) {
          await attempt(`ceiling ${kind}`, async () => {
            results.ceiling.push(...(await runCeiling(ctx, [kind])));
          });
        }
        break;
      }
      case "latency":
        for (const clients of [1, 100])
          await perServer(section, (c) => runLatency(c, [clients]), results.latency);
        break;
      case "maxrate":
        await perServer(section, runMaxRate, results.maxRate);
        break;
      case "fanout":
        await perServer(section, runFanout, results.fanout);
        break;
      case "idle":
        await perServer(section, runIdle, results.idle);
        break;
      case "routing":
        await attempt("routing", async () => {
          log("routing: hub.publish with 1 and 10,000 filter combinations");
          results.routing = runRouting(quick);
          const r = results.routing;
          log(
            `  ${r.one.nsPerEntry.toFixed(0)} ns vs ${r.many.nsPerEntry.toFixed(0)} ns: ×${r.ratio.toFixed(2)}`,
          );
        });
        break;
      case "history":
        if (servers.includes("hookstream")) {
          await attempt("history", async () => {
            results.history = await runHistoryBench(quick, log);
          });
        }
        break;
      case "relay":
        // Its own servers (the no-store relay, smee.io, hookstream), whatever --servers names.
        await attempt("relay", async () => {
          results.relay = await runRelayBench(quick, log);
        });
        break;
      case "cluster":
        if (servers.includes("hookstream")) {
          await attempt("cluster", async () => {
            results.cluster = await runClusterBench({ ...clusterDefaults(quick), parts: clusterParts }, log);
          });
        }
        break;
      case "twins":
        if (servers.includes("hookstream")) {
          await attempt("twins", async () => {
            twins = await runTwinsBench(ctx);
          });
        }
        break;
      case "floor":
        await attempt("floor", async () => {
          floor = await runFloorBench(ctx, { scenarios: floorScenarios, rounds: quick ? 1 : 2 });
        });
        break;
      case "watch":
        await attempt("watch", async () => {
          log("watch: fs.watch and inotify events for appends 1 ms apart, in bursts of 50");
          results.watch = await probeWatch(20);
          const probe = results.watch;
          log(`  ${describeSource("fs.watch", probe.fsWatch, probe)}`);
          if (probe.inotify !== null) log(`  ${describeSource("inotify", probe.inotify, probe)}`);
        });
        break;
      case "profile":
        if (servers.includes("hookstream")) {
          await attempt("profile", async () => {
            mkdirSync(PROFILE_DIR, { recursive: true });
            results.profile = await runProfile(ctx, PROFILE_DIR);
          });
        }
        break;
    }
    log(`(${section}: ${((Date.now() - sectionStart) / 1000).toFixed(1)} s)`);
  }
} finally {
  await stopAll();
  restoreSystemSettings();
  rmSync(scratch, { recursive: true, force: true });
}

const table = renderResults(results, servers);
const profile = renderProfile(results.profile);
log(`\n# Results (${elapsed()} in all)\n\n${table}`);
if (results.cluster !== null && results.cluster.rows.length > 0)
  log(`\n## Cluster mode\n\n${renderClusterTable(results.cluster)}`);
if (results.cluster !== null && results.cluster.logStream.length > 0)
  log(`\n## Cluster mode: log stream\n\n${renderLogStreamTable(results.cluster.logStream)}`);
if (twins !== null)
  log(
    `\n## One record, one entry\n\n${renderTwinsBlock(twins, "bun run bench", "now", describeHookstream())}`,
  );
if (floor !== null) log(`\n## The log pipe against the floor\n\n${renderFloorTable(floor)}`);
const relayBlock = (command: string, date: string) =>
  results.relay === null
    ? null
    : renderRelayBlock(results.relay, {
        command,
        date,
        hookstream: describeHookstream(),
        load: `${loadAverage()}; ${stealSinceStart()}`,
      });
if (results.relay !== null) log(`\n## Relay ingest\n\n${relayBlock("bun bench/run.ts", "now")}`);
if (results.profile !== null) log(`\n## Profile\n\n${profile}\n\nProfile file: ${results.profile.file}`);

if (writeDocs) {
  const previous = existsSync(DOCS_FILE) ? readFileSync(DOCS_FILE, "utf8") : "";
  const start = previous.indexOf(ANALYSIS_START);
  const end = previous.indexOf(ANALYSIS_END);
  const analysis = start !== -1 && end > start ? previous.slice(start + ANALYSIS_START.length, end) : "";
  const command = `bun run bench${Bun.argv.slice(2).length > 0 ? ` -- ${Bun.argv.slice(2).join(" ")}` : ""}`;
  const date = `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`;
  // A section that did not run keeps the block the page has; a run of one part of the cluster section (the
  // relay or the log stream) replaces only that part of it.
  const logsOnly = results.cluster !== null && results.cluster.rows.length === 0;
  const cluster =
    results.cluster === null
      ? clusterBlockOf(previous)
      : logsOnly
        ? clusterBlockOf(
            spliceLogStreamBlock(
              previous,
              renderLogStreamBlock({
                result: results.cluster,
                command,
                date,
                hookstream: describeHookstream(),
              }),
            ),
          )
        : keepLogStreamPart(
            previous,
            renderClusterBlock({
              result: results.cluster,
              command,
              date,
              hookstream: describeHookstream(),
              cpuModel: machine.cpuModel,
            }),
          );
  const twinsBlock =
    twins === null ? twinsBlockOf(previous) : renderTwinsBlock(twins, command, date, describeHookstream());
  const floorBlock =
    floor === null
      ? floorBlockOf(previous)
      : renderFloorBlock(
          floor,
          `Measured ${date} with \`${command}\` (${describeHookstream()}); load average ${loadAtStart} at the start, ${loadAverage()} at the end; ${stealSinceStart()}.`,
        );
  const relay = relayBlock(command, date) ?? relayBlockOf(previous);
  const withBlocks = (page: string) =>
    spliceRelayBlock(spliceFloorBlock(spliceTwinsBlock(page, twinsBlock), floorBlock), relay);
  if (blockOnly && previous !== "") {
    if (results.cluster !== null || twins !== null || floor !== null || results.relay !== null) {
      writeFileSync(DOCS_FILE, withBlocks(spliceClusterBlock(previous, cluster)));
      log(`\nwrote the ${sections.join(" and ")} block of ${DOCS_FILE}`);
    } else log("\ndocs/benchmarks.md left as it is (the block sections failed)");
  } else {
    writeFileSync(
      DOCS_FILE,
      renderDocs({
        date,
        command,
        machine,
        peerVersions,
        openFiles,
        load: `${loadAtStart} at the start, ${loadAverage()} at the end (1, 5, 15 min)`,
        hookstream: describeHookstream(),
        setupNotes: install.notes,
        table,
        cluster,
        profile,
        analysis,
      }),
    );
    writeFileSync(DOCS_FILE, withBlocks(readFileSync(DOCS_FILE, "utf8")));
    log(`\nwrote ${DOCS_FILE}`);
  }
} else log("\ndocs/benchmarks.md left as it is (partial or quick run; --docs writes it)");

if (results.errors.length > 0) exitCode = 1;
process.exit(exitCode);
