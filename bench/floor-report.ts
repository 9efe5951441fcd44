/**
 * The floor section's block of docs/benchmarks.md: one table, hookstream ÷ floor, with the goals. The block
 * sits between markers, so `--only floor` rewrites it and leaves the rest of the page.
 */
import type { FloorRun, FloorScenario } from "./floor.ts";
import { blockOf, spliceBlock } from "./lib/page-block.ts";

interface Row {
  label: string;
  value: (run: FloorRun) => number;
  format: (value: number) => string;
  of: FloorRun["scenario"];
  goal: string;
  /**
   * What passes: hookstream ÷ floor at most `max` or at least `min`, or hookstream at most `ofWebsocketd`
   * times websocketd's figure; null: no ratio goal.
   */
  bound: { max: number } | { min: number } | { ofWebsocketd: number } | null;
}

const perDelivery = (run: FloorRun) => (run.cpuSeconds * 1e6) / run.deliveries;
const ms = (value: number) => `${value.toFixed(2)} ms`;
const us = (value: number) => `${value.toFixed(2)} µs`;

/**
 * A 50 lines/s scenario's rows: the p99 (the goal's figure, against websocketd), the p50, and the server's
 * CPU per line, the idle goal's figure (≤ 2× websocketd's; the idle section measures it over 5 s windows).
 */
const latencyRows = (of: FloorScenario, when: string): Row[] => [
  ...(["p99", "p50"] as const).map((quantile) => ({
    label: `50 lines/s to 1 client, ${when}: latency ${quantile}`,
    of,
    value: (r: FloorRun) => r.latency?.[quantile] ?? Number.NaN,
    format: ms,
    goal: quantile === "p99" ? "≤ websocketd" : "",
    bound: quantile === "p99" ? { ofWebsocketd: 1 } : null,
  })),
  {
    label: `50 lines/s to 1 client, ${when}: server CPU per line`,
    of,
    value: perDelivery,
    format: us,
    goal: "≤ 2× websocketd",
    bound: { ofWebsocketd: 2 },
  },
];

/** A 500-client fan-out scenario's row. */
const fanoutRow = (of: FloorScenario, when: string): Row => ({
  label: `500 clients × 100 lines/s, ${when}: server CPU per delivery`,
  of,
  value: perDelivery,
  format: us,
  goal: "≤ 1.1×",
  bound: { max: 1.1 },
});

/** A max-rate scenario's lines per second to its client; the goal's figure where `bound` is given. */
const rateRow = (of: FloorScenario, label: string, goal: string, bound: Row["bound"]): Row => ({
  label: `${label}: lines/s`,
  of,
  value: (r) => r.receiveRate,
  format: (v) => Math.round(v).toLocaleString("en-US"),
  goal,
  bound,
});

/** A max-rate scenario's peak RSS, against the absolute goal (see verdict). */
const peakRssRow = (of: FloorScenario, label: string): Row => ({
  label: `${label}: peak RSS`,
  of,
  value: (r) => r.peakRssKb / 1024,
  format: (v) => `${v.toFixed(0)} MB`,
  goal: "< 100 MB",
  bound: null,
});

const STALLED = "max rate to a client that stops reading for 0.5 s";

const ROWS: Row[] = [
  ...latencyRows("latency", "a fresh server's first 4 s after 1 s"),
  ...latencyRows("latency-warm", "10 s after 30 s of it"),
  {
    label: "50,000 lines/s to 1 client: server CPU per line",
    of: "cpu",
    value: perDelivery,
    format: us,
    goal: "≤ 1.5×",
    bound: { max: 1.5 },
  },
  rateRow("max", "max rate to 1 client", "≥ 0.95×", { min: 0.95 }),
  {
    label: "max rate: server CPU (of one core)",
    of: "max",
    value: (r) => (100 * r.cpuSeconds) / r.seconds,
    format: (v) => `${v.toFixed(0)} %`,
    goal: "",
    bound: null,
  },
  {
    label: "max rate: server waiting for a CPU (run queue)",
    of: "max",
    value: (r) => (100 * r.runQueueSeconds) / r.seconds,
    format: (v) => `${v.toFixed(0)} %`,
    goal: "",
    bound: null,
  },
  {
    label: "max rate: latency p50",
    of: "max",
    value: (r) => r.latency?.p50 ?? Number.NaN,
    format: ms,
    goal: "",
    bound: null,
  },
  {
    label: "max rate: latency p99",
    of: "max",
    value: (r) => r.latency?.p99 ?? Number.NaN,
    format: ms,
    goal: "≤ 2×",
    bound: { max: 2 },
  },
  peakRssRow("max", "max rate"),
  rateRow("max-stalled", STALLED, "", null),
  peakRssRow("max-stalled", STALLED),
  fanoutRow("fanout", "a fresh server's first 4 s"),
  fanoutRow("fanout-warm", "4 s after 15 s of it"),
];

function verdict(row: Row, hook: number, floor: number, peer: number | undefined): string {
  if (!Number.isFinite(hook)) return "";
  const ratio = hook / floor;
  if (row.bound !== null && "ofWebsocketd" in row.bound)
    return peer === undefined ? "" : hook <= row.bound.ofWebsocketd * peer ? "✅" : "❌";
  if (row.bound !== null)
    return ("max" in row.bound ? ratio <= row.bound.max : ratio >= row.bound.min) ? "✅" : "❌";
  if (row.goal === "< 100 MB") return hook < 100 ? "✅" : "❌";
  return "";
}

export function renderFloorTable(runs: readonly FloorRun[]): string {
  const find = (scenario: FloorRun["scenario"], server: string) =>
    runs.find((r) => r.scenario === scenario && r.server === server);
  const lines = [
    "| scenario | floor | work floor | websocketd | hookstream | hookstream ÷ floor | goal | | work floor ÷ floor | hookstream ÷ work floor |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  const cell = (row: Row, value: number | undefined) => (value === undefined ? "–" : row.format(value));
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? "–" : `×${(a / b).toFixed(2)}`;
  for (const row of ROWS) {
    const floor = find(row.of, "floor");
    const hook = find(row.of, "hookstream");
    if (floor === undefined || hook === undefined) continue;
    const figureOf = (server: string) => {
      const run = find(row.of, server);
      return run === undefined ? undefined : row.value(run);
    };
    const [f, h, p, w] = [row.value(floor), row.value(hook), figureOf("websocketd"), figureOf("work-floor")];
    lines.push(
      `| ${row.label} | ${row.format(f)} | ${cell(row, w)} | ${cell(row, p)} | ${row.format(h)} | ` +
        `${ratio(h, f)} | ${row.goal} | ${verdict(row, h, f, p)} | ${ratio(w, f)} | ${ratio(h, w)} |`,
    );
  }
  const behind = find("max", "hookstream")?.rounds;
  if (behind !== undefined && behind.fellBehind !== null)
    lines.push(
      "",
      `hookstream's max-rate client fell behind and was fed from the journal in ${behind.fellBehind} of ` +
        `${behind.of} rounds (the stalled client in every round, as it must).`,
    );
  const loss = runs.filter((r) => r.loss > 0 || r.firstClose !== null);
  lines.push(
    "",
    loss.length === 0
      ? "Every client got every line once and in order, and no connection closed early."
      : `Loss or early closes: ${loss.map((r) => `${r.server} ${r.scenario} lost ${r.loss}${r.firstClose === null ? "" : ` (closed ${r.firstClose})`}`).join("; ")}.`,
  );
  return lines.join("\n");
}

export function renderFloorBlock(runs: readonly FloorRun[], measured: string): string {
  return [
    measured,
    "",
    "The floor (`bench/lib/floor-server.ts`) reads the appended bytes (fs.watch as a hint, a 2 ms poll), cuts",
    "lines and publishes each unchanged to one topic, with a backpressure limit no run reaches (so it never",
    "drops a line: it buffers for a slow reader instead). Clients are Node `ws` in other processes (two for",
    "500 connections); 344-byte JSON `log_entry` lines; best of two rounds, loss and peak RSS from both.",
    "The work floor is the same server adding the least of hookstream's job: each line parsed, serialised",
    "again and appended to a journal file (one write per read). At 50 lines/s both floors wake on the file's",
    "inotify events instead of the poll, as hookstream does: 500 polls a second would cost more than the",
    "lines. CPU is the server's, with websocketd's `tail` counted in. The stalled client of the max-rate",
    "burst stops reading its socket for 0.5 s after its first 1,000 lines: hookstream then catches it up",
    "from its journal, every run.",
    "",
    renderFloorTable(runs),
  ].join("\n");
}

/** The block the page has, or "" when it has none. */
export const floorBlockOf = (page: string): string => blockOf(page, "floor");

export const spliceFloorBlock = (page: string, block: string): string =>
  spliceBlock(page, "floor", "## The log pipe against the floor", block);
