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
  const cells = columnsOf(result).map((name) => {
    const v = of(name);
    return v === null ? "–" : fmt(v, digits);
  });
  const floor = of("nostore");
  const hook = of("hookstream");
  const ratio = floor === null || hook === null || floor === 0 ? null : hook / floor;
  const smee = of("smee");
  const smeeRatio = floor === null || smee === null || floor === 0 ? null : smee / floor;
  const mark =
    goal === undefined || ratio === null
      ? ""
      : (goal.atMost ? ratio <= goal.ratio : ratio >= goal.ratio)
        ? ` (goal ${goal.atMost ? "≤" : "≥"} ×${goal.ratio}: met)`
        : ` (goal ${goal.atMost ? "≤" : "≥"} ×${goal.ratio}: missed)`;
  const fmtRatio = (r: number | null) => (r === null ? "–" : `×${fmt(r, 2)}`);
  const base = of("baseline");
  const change =
    result.baseline === null ? "" : ` ${fmtRatio(base === null || hook === null ? null : hook / base)} |`;
  return `| ${metric} | ${cells.join(" | ")} | ${fmtRatio(ratio)}${mark} | ${fmtRatio(smeeRatio)} |${change}`;
}

/** The servers' columns: the baseline (another checkout's hookstream) only when one was measured. */
function columnsOf(result: RelayBenchResult): RelayServerResult["name"][] {
  return result.baseline === null
    ? ["nostore", "smee", "hookstream-normal", "hookstream"]
    : ["nostore", "smee", "hookstream-normal", "baseline", "hookstream"];
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
      "`bench/peers/nostore-relay.mjs` under Node. smee.io: its own server " +
      `(${result.smeeCommit === null ? "not installed" : `commit ${result.smeeCommit}`}) under Node, ` +
      "event-stream subscribers, its default request logging to a discarded stdout.",
    ...(result.baseline === null
      ? []
      : [
          "",
          `"hookstream before" is ${result.baseline}, measured in the same rounds (RELAY_BENCH_BASELINE).`,
        ]),
    "",
    result.baseline === null
      ? "| scenario | no-store relay | smee.io | hookstream, durability normal | hookstream | hookstream ÷ no-store | smee.io ÷ no-store |"
      : "| scenario | no-store relay | smee.io | hookstream, durability normal | hookstream before | hookstream | hookstream ÷ no-store | smee.io ÷ no-store | hookstream ÷ before |",
    result.baseline === null
      ? "| --- | --- | --- | --- | --- | --- | --- |"
      : "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
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
    `| missing + duplicated + out of order, all phases | ${lossCells(result)} | | |${result.baseline === null ? "" : " |"}`,
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
