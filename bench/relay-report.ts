/**
 * The relay section's block of docs/benchmarks.md: one table with the three relays side by side and
 * hookstream's ratios to the no-store relay, the goals marked. `--only relay` rewrites just this block.
 */
import { blockOf, spliceBlock } from "./lib/page-block.ts";
import { fmt } from "./lib/table.ts";
import type { RelayBenchResult, RelayPhase, RelayServerResult } from "./relay.ts";

/** Goals, as ratios to the no-store relay measured in the same run. */
export const RELAY_GOALS = { throughputRatio: 0.9, p99Ratio: 1.3 } as const;

const RELAY_HEADING = "## Relay ingest: hookstream beside a no-store relay and smee.io";
export const relayBlockOf = (page: string): string => blockOf(page, "relay");
export const spliceRelayBlock = (page: string, block: string): string =>
  spliceBlock(page, "relay", RELAY_HEADING, block);

type Pick = (server: RelayServerResult) => RelayPhase | undefined;

/** A ratio column: `of` ÷ `to`, measured in the same run; `goals`: the column the goals are judged in. */
interface RatioColumn {
  heading: string;
  of: RelayServerResult["name"];
  to: RelayServerResult["name"];
  goals?: true;
}

/**
 * hookstream against the no-store relay (the goals' reference); the durable floor against the no-store relay
 * (what the durability contract costs), the SQLite floor against the durable floor (what SQLite costs under
 * it), and hookstream against the SQLite floor (its own cost on that store).
 */
const RATIOS: RatioColumn[] = [
  { heading: "hookstream ÷ no-store", of: "hookstream", to: "nostore", goals: true },
  { heading: "durable floor ÷ no-store", of: "durable-floor", to: "nostore" },
  { heading: "SQLite floor ÷ durable floor", of: "sqlite-floor", to: "durable-floor" },
  { heading: "hookstream ÷ SQLite floor", of: "hookstream", to: "sqlite-floor" },
  { heading: "smee.io ÷ no-store", of: "smee", to: "nostore" },
];

const fmtRatio = (r: number | null) => (r === null ? "–" : `×${fmt(r, 2)}`);

function row(
  result: RelayBenchResult,
  metric: string,
  pick: Pick,
  value: (p: RelayPhase) => number,
  digits: number,
  goal?: { ratio: number; atMost: boolean },
): string {
  const of = (name: RelayServerResult["name"]) => {
    const server = result.servers.find((s) => s.name === name);
    const phase = server === undefined ? undefined : pick(server);
    return phase === undefined ? null : value(phase);
  };
  const ratioOf = (a: RelayServerResult["name"], b: RelayServerResult["name"]) => {
    const x = of(a);
    const y = of(b);
    return x === null || y === null || y === 0 ? null : x / y;
  };
  const cells = columnsOf(result).map((name) => {
    const v = of(name);
    return v === null ? "–" : fmt(v, digits);
  });
  const ratios = RATIOS.map((column) => {
    const ratio = ratioOf(column.of, column.to);
    if (!column.goals || goal === undefined || ratio === null) return fmtRatio(ratio);
    const met = goal.atMost ? ratio <= goal.ratio : ratio >= goal.ratio;
    return `${fmtRatio(ratio)} (goal ${goal.atMost ? "≤" : "≥"} ×${goal.ratio}: ${met ? "met" : "missed"})`;
  });
  const change = result.baseline === null ? [] : [fmtRatio(ratioOf("hookstream", "baseline"))];
  return `| ${[metric, ...cells, ...ratios, ...change].join(" | ")} |`;
}

const HEADINGS: Record<RelayServerResult["name"], string> = {
  nostore: "no-store relay",
  "durable-floor": "durable floor",
  "sqlite-floor": "SQLite floor",
  smee: "smee.io",
  "hookstream-normal": "hookstream, durability normal",
  baseline: "hookstream before",
  hookstream: "hookstream",
};

/** The servers' columns: the baseline (another checkout's hookstream) only when one was measured. */
function columnsOf(result: RelayBenchResult): RelayServerResult["name"][] {
  const all: RelayServerResult["name"][] = [
    "nostore",
    "durable-floor",
    "sqlite-floor",
    "smee",
    "hookstream-normal",
    "baseline",
    "hookstream",
  ];
  return all.filter((name) => name !== "baseline" || result.baseline !== null);
}

function headerRows(result: RelayBenchResult): string[] {
  const headings = [
    "scenario",
    ...columnsOf(result).map((name) => HEADINGS[name]),
    ...RATIOS.map((column) => column.heading),
    ...(result.baseline === null ? [] : ["hookstream ÷ before"]),
  ];
  return [`| ${headings.join(" | ")} |`, `|${" --- |".repeat(headings.length)}`];
}

export interface RelayBlockOptions {
  command: string;
  date: string;
  hookstream: string;
  load: string;
}

export function renderRelayBlock(result: RelayBenchResult, options: RelayBlockOptions): string {
  const throughput =
    (n: number): Pick =>
    (s) =>
      s.throughput.find((p) => p.subscribers === n);
  const latency =
    (n: number): Pick =>
    (s) =>
      s.latency.find((p) => p.subscribers === n);
  const lines = [
    `Measured ${options.date} with \`${options.command}\`; hookstream ${options.hookstream}; load average ` +
      `${options.load}. ~${fmt(result.payloadBytes / 1024, 1)} KB signed \`pull_request\` bodies ` +
      `(fresh \`X-GitHub-Delivery\`, \`X-Hub-Signature-256\`), ${result.seconds} s per phase, best of ` +
      `${result.rounds} round(s) in alternating order (losses summed over all); each server ` +
      "pinned to CPU 1 with `taskset`, the driver (2 sender processes, 16 POSTs in flight, keep-alive; " +
      "subscriber processes) pinned to CPU 0. hookstream: RELAY_DURABILITY=full (every 2xx after an " +
      'fsynced group commit; the goals are its), the input checks the signature; "durability normal": the ' +
      "same server with RELAY_DURABILITY=normal (every 2xx after the commit, no fsync per commit). The no-store relay: " +
      "`bench/peers/nostore-relay.mjs` under Node. The durable floor: `bench/peers/durable-floor-relay.ts` under " +
      "Bun (the signature checked, the body appended to a file, the 200 after a shared fdatasync, the body " +
      "relayed unchanged); the SQLite floor: the same with each body a row of a one-table bun:sqlite database " +
      "(WAL, the POSTs of one turn in one transaction, the WAL fdatasynced). smee.io: its own server " +
      `(${result.smeeCommit === null ? "not installed" : `commit ${result.smeeCommit}`}) under Node, ` +
      "event-stream subscribers, its default request logging to a discarded stdout.",
    ...(result.baseline === null
      ? []
      : [
          "",
          `"hookstream before" is ${result.baseline}, measured in the same rounds (RELAY_BENCH_BASELINE).`,
        ]),
    "",
    ...headerRows(result),
    row(result, "accepted webhooks/s, 1 subscriber", throughput(1), (p) => p.perSecond, 0, {
      ratio: RELAY_GOALS.throughputRatio,
      atMost: false,
    }),
    row(
      result,
      "server CPU per accepted webhook (µs), 1 subscriber",
      throughput(1),
      (p) => p.cpuUsPerWebhook,
      1,
    ),
    row(result, "p50 POST → subscriber at 100/s, 1 subscriber (ms)", latency(1), (p) => p.p50, 2),
    row(result, "p99 POST → subscriber at 100/s, 1 subscriber (ms)", latency(1), (p) => p.p99, 2, {
      ratio: RELAY_GOALS.p99Ratio,
      atMost: true,
    }),
    row(result, "accepted webhooks/s, 100 subscribers", throughput(100), (p) => p.perSecond, 0),
    row(
      result,
      "server CPU per accepted webhook (µs), 100 subscribers",
      throughput(100),
      (p) => p.cpuUsPerWebhook,
      1,
    ),
    row(result, "p99 POST → subscriber at 100/s, 100 subscribers (ms)", latency(100), (p) => p.p99, 2),
    `| missing + duplicated + out of order, all phases | ${lossCells(result)} |${" |".repeat(RATIOS.length + (result.baseline === null ? 0 : 1))}`,
  ];
  const hook = result.servers.find((s) => s.name === "hookstream");
  const before = hook?.throughput.find((p) => p.subscribers === 1);
  if (hook?.afterCycles && before !== undefined)
    lines.push(
      "",
      `hookstream after ${fmt(hook.cycles)} subscribers connected, subscribed and left: ` +
        `${fmt(hook.afterCycles.perSecond)} webhooks/s, ×${fmt(hook.afterCycles.perSecond / before.perSecond, 2)} ` +
        `of before, ${hook.afterCycles.missing} missing.`,
    );
  for (const note of result.notes) lines.push("", note);
  return lines.join("\n");
}

function lossCells(result: RelayBenchResult): string {
  const cells = columnsOf(result).map((name) => {
    const server = result.servers.find((s) => s.name === name);
    if (server === undefined) return "–";
    const phases = [
      ...server.throughput,
      ...server.latency,
      ...(server.afterCycles ? [server.afterCycles] : []),
    ];
    const lost = phases.reduce((sum, p) => sum + p.missing + p.duplicated + p.outOfOrder, 0);
    const refused = phases.reduce((sum, p) => sum + p.refused, 0);
    return `${fmt(lost)}${refused > 0 ? ` (${fmt(refused)} POSTs refused)` : ""}`;
  });
  return cells.join(" | ");
}
