/**
 * One change's effect on one floor scenario: hookstream from another checkout ("before") and from this one
 * ("after"), run alternately in pairs on the same driver, so a noisy neighbour hits both. A change of a few
 * per cent is below one run's noise; pairs in one sitting show whether its direction holds.
 *
 *   bun bench/floor-pairs.ts --baseline <checkout> [--scenario cpu] [--pairs 6]
 *
 * The baseline is a checkout with its dependencies installed (e.g. `git worktree add <dir> <commit>`, then
 * `bun install` there). Prints each run, then per pair the figure the scenario is read by (CPU per delivery;
 * the p99 for the 50 lines/s scenarios; lines per second at max rate) and the means.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  asGoodAs,
  describeFloorRun,
  FLOOR_SCENARIOS,
  type FloorRun,
  type FloorScenario,
  figureOf,
  measureFloorRun,
} from "./floor.ts";
import { ensurePeers, REPO_ROOT } from "./lib/peers.ts";
import type { BenchContext } from "./scenarios/context.ts";

const { values } = parseArgs({
  options: {
    baseline: { type: "string" },
    scenario: { type: "string", default: "cpu" },
    pairs: { type: "string", default: "6" },
  },
});
const scenario = values.scenario as FloorScenario;
const pairs = Number(values.pairs);
if (values.baseline === undefined || !FLOOR_SCENARIOS.includes(scenario) || !(pairs >= 1)) {
  console.error(
    `usage: bun bench/floor-pairs.ts --baseline <checkout> [--scenario ${FLOOR_SCENARIOS.join("|")}] [--pairs N]`,
  );
  process.exit(2);
}
const baseline = resolve(values.baseline);
const node = Bun.which("node");
if (node === null) throw new Error("node is not installed: the floor scenarios read with Node `ws` clients");

const scratch = mkdtempSync(join(tmpdir(), "hookstream-floor-pairs-"));
const ctx: BenchContext = {
  install: ensurePeers([]),
  servers: ["hookstream"],
  quick: false,
  scratch,
  log: (message) => console.log(message),
};

/** One run of hookstream from `root`, printed as it ends. */
const runFrom = async (root: string, pair: number, label: string): Promise<FloorRun> => {
  const run = await measureFloorRun(ctx, node, scenario, "hookstream", { hookstreamRoot: root });
  console.log(`pair ${pair} ${label}:${describeFloorRun(run).replace(/^\s*hookstream:/, "")}`);
  return run;
};

const runs: Array<{ before: FloorRun; after: FloorRun }> = [];
try {
  for (let pair = 1; pair <= pairs; pair++) {
    const before = await runFrom(baseline, pair, "before");
    const after = await runFrom(REPO_ROOT, pair, "after");
    runs.push({ before, after });
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const mean = (list: number[]) => list.reduce((sum, value) => sum + value, 0) / list.length;
const format = (value: number) => value.toFixed(value >= 100 ? 0 : 2);
const before = runs.map((r) => figureOf(r.before).value);
const after = runs.map((r) => figureOf(r.after).value);
// Strictly better: a tie is no evidence for the change.
const betterAfter = runs.filter((r) => !asGoodAs(r.before, r.after)).length;
const unit = runs[0] === undefined ? "" : figureOf(runs[0].before).unit;
console.log(`\n${scenario}, ${unit}, before = ${baseline}, after = ${REPO_ROOT}`);
console.log(`before: ${before.map(format).join(", ")}`);
console.log(`after:  ${after.map(format).join(", ")}`);
console.log(
  `means ${format(mean(before))} → ${format(mean(after))} (×${(mean(after) / mean(before)).toFixed(3)}); ` +
    `after better in ${betterAfter} of ${runs.length} pairs`,
);
// At max rate a run in which the client fell behind is a different run: say how many there were.
const fellBehind = (side: "before" | "after") =>
  runs.filter((r) => (r[side].rounds.fellBehind ?? 0) > 0).length;
if (runs.some((r) => r.before.rounds.fellBehind !== null))
  console.log(
    `client fell behind (fed from the journal): before in ${fellBehind("before")}, after in ` +
      `${fellBehind("after")} of ${runs.length} runs`,
  );
