/**
 * The idle rows of the results table (memory per connection, CPU with nothing to do and at 50 lines/s) and
 * the change-source probe's rows.
 */
import type { IdleResult } from "../scenarios/idle.ts";
import { TRICKLE_LINES_PER_SECOND } from "../scenarios/idle.ts";
import type { SourceProbe, WatchProbe } from "../watch-events.ts";
import type { ServerName } from "./peers.ts";
import { type Cell, cellsOf, fmt, type Row, verdict } from "./table.ts";

export const IDLE_TARGETS = {
  idleCpuMs: 1,
  idleBytesPerConnection: 10_000,
  trickleCpuVsWebsocketd: 2,
} as const;

const MB = 1_000_000;

/** A trickle row, held to the same target whichever window it shows. */
function trickleRow(results: IdleResult[], metric: string, cpu: (r: IdleResult) => number): Row {
  const hook = results.find((r) => r.server === "hookstream");
  const websocketd = results.find((r) => r.server === "websocketd");
  return {
    metric,
    cells: cellsOf(results, (r) => cpu(r) * 1000),
    format: (v) => fmt(v, 1),
    ratio: true,
    target: `≤ ${IDLE_TARGETS.trickleCpuVsWebsocketd}× websocketd`,
    verdict: verdict(
      hook === undefined || websocketd === undefined
        ? null
        : cpu(hook) <= IDLE_TARGETS.trickleCpuVsWebsocketd * cpu(websocketd),
    ),
  };
}

export function idleRows(results: IdleResult[]): Row[] {
  const rows: Row[] = [];
  const hook = results.find((r) => r.server === "hookstream");
  const steps = [...new Set(results.flatMap((r) => r.steps.map((s) => s.connections)))].sort((a, b) => a - b);
  const top = steps[steps.length - 1];
  for (const n of steps) {
    const cells = (pick: (s: IdleResult["steps"][number]) => number, memoryNote: boolean) => {
      const out: Partial<Record<ServerName, Cell>> = {};
      for (const r of results) {
        const step = r.steps.find((s) => s.connections === n);
        const skippedNote = r.skipped.find((s) => s.startsWith(fmt(n)));
        if (step === undefined)
          out[r.server] = { value: null, note: `skipped at ${skippedNote ?? `${fmt(n)} connections`}` };
        else
          out[r.server] =
            memoryNote && r.server !== "hookstream"
              ? { value: pick(step), note: "PSS summed over the server and its tail processes" }
              : { value: pick(step) };
      }
      return out;
    };
    rows.push({
      metric: `Server memory, ${fmt(n)} idle connections (MB)`,
      cells: cells((s) => (s.rssKb * 1024) / MB, true),
      format: (v) => fmt(v, 1),
      ratio: true,
    });
    const hookStep = hook?.steps.find((s) => s.connections === n);
    rows.push({
      metric: `Memory per idle connection at ${fmt(n)} (bytes)`,
      cells: cells((s) => s.perConnectionBytes, false),
      format: (v) => fmt(v),
      ratio: true,
      ...(n === top
        ? {
            target: `< ${fmt(IDLE_TARGETS.idleBytesPerConnection)} B`,
            verdict: verdict(
              hookStep === undefined
                ? null
                : hookStep.perConnectionBytes < IDLE_TARGETS.idleBytesPerConnection,
            ),
          }
        : {}),
    });
  }
  const window = results[0]?.idleWindowMs ?? 5000;
  rows.push(
    {
      metric: `Idle CPU, no client, no writes (CPU ms over ${fmt(window / 1000)} s)`,
      cells: cellsOf(results, (r) => r.noClientCpuSeconds * 1000),
      format: (v) => fmt(v, 2),
      ratio: true,
      target: `zero (< ${IDLE_TARGETS.idleCpuMs} ms)`,
      verdict: verdict(hook === undefined ? null : hook.noClientCpuSeconds * 1000 < IDLE_TARGETS.idleCpuMs),
    },
    trickleRow(
      results,
      `CPU at ${TRICKLE_LINES_PER_SECOND} lines/s to 1 client, its first ${fmt(window / 1000)} s (CPU ms)`,
      (r) => r.trickleCpuSeconds,
    ),
    trickleRow(
      results,
      `CPU at ${TRICKLE_LINES_PER_SECOND} lines/s to 1 client, ${fmt(window / 1000)} s after a minute of it (CPU ms)`,
      (r) => r.trickleWarmCpuSeconds,
    ),
  );
  rows.push({
    metric: `Idle CPU, 1,000 connections, no writes (CPU ms over ${fmt(window / 1000)} s)`,
    cells: cellsOf(results, (r) => r.idleCpuSeconds * 1000),
    format: (v) => fmt(v, 2),
    ratio: true,
    target: `zero (< ${IDLE_TARGETS.idleCpuMs} ms)`,
    verdict: verdict(hook === undefined ? null : hook.idleCpuSeconds * 1000 < IDLE_TARGETS.idleCpuMs),
  });
  return rows;
}

export function watchRows(probe: WatchProbe): Row[] {
  const row = (name: string, source: SourceProbe, note: string): Row => ({
    metric: `Runtime ${name}: bursts of 50 appends (1 ms apart) whose last append got no event, of ${probe.bursts}`,
    cells: {
      hookstream: {
        value: source.lastAppendMissed,
        note: `${fmt(source.events)} events for ${fmt(probe.appends)} appends${
          source.p50Ms === null ? "" : `, the last append's event after ${fmt(source.p50Ms, 2)} ms (p50)`
        }; ${note}`,
      },
    },
    format: (v) => fmt(v),
    ratio: false,
  });
  return [
    row(
      "fs.watch",
      probe.fsWatch,
      "without inotify a line with no event waits for the directory poll (LOG_POLL_INTERVAL_MS)",
    ),
    ...(probe.inotify === null
      ? []
      : [row("inotify (bun:ffi)", probe.inotify, "what the follower wakes up on under Linux")]),
  ];
}
