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
  describeFloorRun,
  FLOOR_SCENARIOS,
  type FloorRun,
  type FloorScenario,
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

/** The figure a scenario is read by, and whether lower is better. */
function figureOf(run: FloorRun): { value: number; unit: string; lowerIsBetter: boolean } {
  if (scenario === "latency" || scenario === "latency-warm")
    return { value: run.latency?.p99 ?? Number.NaN, unit: "ms p99", lowerIsBetter: true };
  if (scenario === "max") return { value: run.receiveRate, unit: "lines/s", lowerIsBetter: false };
  return { value: (run.cpuSeconds * 1e6) / run.deliveries, unit: "µs per delivery", lowerIsBetter: true };
}

const scratch = mkdtempSync(join(tmpdir(), "hookstream-floor-pairs-"));
const ctx: BenchContext = {
  install: ensurePeers([]),
  servers: ["hookstream"],
  quick: false,
  scratch,
  log: (message) => console.log(message),
};
const results: Array<{ before: number; after: number }> = [];
let unit = "";
let betterAfter = 0;
try {
  for (let pair = 1; pair <= pairs; pair++) {
    const figures: number[] = [];
    for (const [label, root] of [
      ["before", baseline],
      ["after", REPO_ROOT],
    ] as const) {
      const run = await measureFloorRun(ctx, node, scenario, "hookstream", { hookstreamRoot: root });
      console.log(`pair ${pair} ${label}:${describeFloorRun(run).replace(/^\s*hookstream:/, "")}`);
      const figure = figureOf(run);
      unit = figure.unit;
      figures.push(figure.value);
      if (label === "after") {
        const [before = Number.NaN, after = Number.NaN] = figures;
        results.push({ before, after });
        if (figure.lowerIsBetter ? after < before : after > before) betterAfter++;
      }
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const mean = (list: number[]) => list.reduce((sum, value) => sum + value, 0) / list.length;
const format = (value: number) => value.toFixed(value >= 100 ? 0 : 2);
const before = results.map((r) => r.before);
const after = results.map((r) => r.after);
console.log(`\n${scenario}, ${unit}, before = ${baseline}, after = ${REPO_ROOT}`);
console.log(`before: ${before.map(format).join(", ")}`);
console.log(`after:  ${after.map(format).join(", ")}`);
console.log(
  `means ${format(mean(before))} → ${format(mean(after))} (×${(mean(after) / mean(before)).toFixed(3)}); ` +
    `after better in ${betterAfter} of ${results.length} pairs`,
);
