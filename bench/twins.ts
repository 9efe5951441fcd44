/**
 * One record, one entry: what pairing the processor's two copies of each record costs, and saves. hookstream
 * follows a directory where every record is written twice, as github-webhook-server writes it (a text line in
 * `webhook-server.log`, then a `log_entry` line in `webhooks_*.json`), once with pairing on (LOG_DEDUPE=true,
 * the default) and once with it off, side by side: server CPU per record, messages a client gets per record,
 * and records per second to one client. Also the same JSON-only workload as the max-rate scenario, with
 * pairing on and off, to show what the window costs where there is nothing to pair.
 */
import { appendFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { blockOf, spliceBlock } from "./lib/page-block.ts";
import type { BenchContext } from "./scenarios/context.ts";
import { withServer } from "./scenarios/context.ts";

export interface TwinsLatency {
  dedupe: boolean;
  records: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface TwinsResult {
  rows: TwinsRow[];
  latency: TwinsLatency[];
}

export interface TwinsRow {
  workload: "both copies" | "JSON only";
  dedupe: boolean;
  records: number;
  messagesPerRecord: number;
  cpuMicrosPerRecord: number;
  recordsPerSecond: number;
}

const TEXT_FILE = "webhook-server.log";
/** Records per append: one text batch, then its JSON batch, as the processor's two handlers write. */
const BATCH = 500;
const PAD = "x".repeat(48);

/** Runs of each throughput row; the best is kept. */
const TWINS_ROUNDS = 3;

/** Records per second of the latency run, and for how long. */
const LATENCY_RATE = 50;
const LATENCY_MS = 5_000;

function copies(seq: number, sentMs = 0): { text: string; json: string } {
  const micros = String(seq % 1_000_000).padStart(6, "0");
  const ts = `2026-11-23T10:${String(Math.floor(seq / 1_000_000) % 60).padStart(2, "0")}:00.${micros}+00:00`;
  const hook = seq % 16;
  const prefix = `org/repo [pull_request][hook-${hook}][bot][PR ${12 + hook}]: `;
  const message = `bench seq=${seq} t=${sentMs.toFixed(3)} processing ${PAD}`;
  return {
    text: `${ts} webhook-server.log \u001b[32mINFO\u001b[0m \u001b[38;5;160morg/repo\u001b[0m ${prefix.slice(9)}${message}\u001b[0m\n`,
    json: `${JSON.stringify({ type: "log_entry", timestamp: ts, level: "INFO", logger_name: "webhook-server.log", message: `${prefix}${message}`, hook_id: `hook-${hook}`, event_type: "pull_request", repository: "org/repo", pr_number: 12 + hook, api_user: "" })}\n`,
  };
}

async function measure(
  ctx: BenchContext,
  workload: TwinsRow["workload"],
  dedupe: boolean,
  records: number,
): Promise<TwinsRow> {
  process.env.LOG_DEDUPE = String(dedupe);
  try {
    return await withServer(
      ctx,
      "hookstream",
      `twins-${dedupe ? "on" : "off"}`,
      async ({ server, logFile }) => {
        const textFile = join(dirname(logFile), TEXT_FILE);
        writeFileSync(textFile, "");
        const expected = workload === "both copies" && !dedupe ? records * 2 : records;
        let received = 0;
        let firstAt = 0;
        let lastAt = 0;
        let resolveDone: () => void = () => {};
        const done = new Promise<void>((resolve) => {
          resolveDone = resolve;
        });
        const socket = new WebSocket(server.url);
        await new Promise<void>((resolve, reject) => {
          socket.onopen = () => resolve();
          socket.onerror = () => reject(new Error("connect failed"));
        });
        socket.onmessage = () => {
          if (received === 0) firstAt = performance.now();
          received++;
          lastAt = performance.now();
          if (received === expected) resolveDone();
        };
        await server.settle(1, 10_000);
        // The text file appeared after the start: wait until it is followed, so its first line is read.
        for (let i = 0; i < 400; i++) {
          const health = (await (
            await fetch(server.url.replace("ws://", "http://").replace("/logs/ws", "/health"))
          ).json()) as {
            watched_files: string[];
          };
          if (health.watched_files.includes(textFile)) break;
          await Bun.sleep(25);
        }
        const cpuBefore = server.stats().cpuSeconds;
        for (let first = 0; first < records; first += BATCH) {
          let text = "";
          let json = "";
          for (let seq = first; seq < Math.min(records, first + BATCH); seq++) {
            const pair = copies(seq);
            text += pair.text;
            json += pair.json;
          }
          if (workload === "both copies") appendFileSync(textFile, text);
          appendFileSync(logFile, json);
          await new Promise((resolve) => setImmediate(resolve));
        }
        const timeout = new Promise<void>((resolve) => setTimeout(resolve, 60_000));
        await Promise.race([done, timeout]);
        // Whatever else arrives late would be a duplicate: give it a moment to show.
        await Bun.sleep(200);
        const cpuSeconds = server.stats().cpuSeconds - cpuBefore;
        socket.close();
        return {
          workload,
          dedupe,
          records,
          messagesPerRecord: received / records,
          cpuMicrosPerRecord: (cpuSeconds * 1e6) / records,
          recordsPerSecond: records / Math.max(1e-3, (lastAt - firstAt) / 1000),
        };
      },
    );
  } finally {
    delete process.env.LOG_DEDUPE;
  }
}

/**
 * Time from the append of a record's JSON copy (the later of the two) to the client, at a trickle: what
 * waiting for the twin adds. With pairing off, the first copy of each record to arrive counts.
 */
async function measureLatency(ctx: BenchContext, dedupe: boolean): Promise<TwinsLatency> {
  process.env.LOG_DEDUPE = String(dedupe);
  try {
    return await withServer(
      ctx,
      "hookstream",
      `twins-latency-${dedupe ? "on" : "off"}`,
      async ({ server, logFile }) => {
        const textFile = join(dirname(logFile), TEXT_FILE);
        writeFileSync(textFile, "");
        const seen = new Map<number, number>();
        const socket = new WebSocket(server.url);
        await new Promise<void>((resolve, reject) => {
          socket.onopen = () => resolve();
          socket.onerror = () => reject(new Error("connect failed"));
        });
        socket.onmessage = (event) => {
          const match = /seq=(\d+) t=([\d.]+)/.exec(String(event.data));
          if (match === null) return;
          const seq = Number(match[1]);
          if (!seen.has(seq)) seen.set(seq, performance.timeOrigin + performance.now() - Number(match[2]));
        };
        await server.settle(1, 10_000);
        await Bun.sleep(300);
        const records = Math.round((LATENCY_RATE * LATENCY_MS) / 1000);
        const started = performance.now();
        for (let seq = 0; seq < records; seq++) {
          const due = started + (seq * 1000) / LATENCY_RATE - performance.now();
          if (due > 0) await Bun.sleep(due);
          // Both copies carry the time of the JSON copy's append, the later of the two.
          const pair = copies(1_000_000 + seq, performance.timeOrigin + performance.now());
          appendFileSync(textFile, pair.text);
          appendFileSync(logFile, pair.json);
        }
        await Bun.sleep(500);
        socket.close();
        const latencies = [...seen.values()].sort((a, b) => a - b);
        const at = (q: number) =>
          latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
        return {
          dedupe,
          records: latencies.length,
          p50Ms: at(0.5),
          p99Ms: at(0.99),
          maxMs: latencies.at(-1) ?? Number.NaN,
        };
      },
    );
  } finally {
    delete process.env.LOG_DEDUPE;
  }
}

export async function runTwinsBench(ctx: BenchContext): Promise<TwinsResult> {
  const latency: TwinsLatency[] = [];
  for (const dedupe of [true, false]) {
    ctx.log(`twins: latency at ${LATENCY_RATE} records/s, LOG_DEDUPE=${dedupe}`);
    const result = await measureLatency(ctx, dedupe);
    ctx.log(
      `  p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms over ${result.records} records`,
    );
    latency.push(result);
  }
  const records = ctx.quick ? 50_000 : 200_000;
  const rows: TwinsRow[] = [];
  for (const workload of ["both copies", "JSON only"] as const) {
    // Best of three, pairing on and off in turn: a noisy neighbour only ever slows a run down, and single runs
    // of the same code moved by a fifth, so each ratio compares runs of the same minutes.
    const runs = new Map<boolean, TwinsRow[]>([
      [true, []],
      [false, []],
    ]);
    for (let round = 0; round < TWINS_ROUNDS; round++) {
      for (const dedupe of [true, false]) {
        ctx.log(`twins: ${workload}, LOG_DEDUPE=${dedupe}, ${records} records (run ${round + 1})`);
        runs.get(dedupe)?.push(await measure(ctx, workload, dedupe, records));
      }
    }
    for (const dedupe of [true, false]) {
      const best = (runs.get(dedupe) ?? []).reduce((a, b) =>
        b.cpuMicrosPerRecord < a.cpuMicrosPerRecord ? b : a,
      );
      ctx.log(
        `  LOG_DEDUPE=${dedupe}: ${best.cpuMicrosPerRecord.toFixed(2)} µs CPU per record, ${best.messagesPerRecord.toFixed(2)} messages per record, ${Math.round(best.recordsPerSecond)} records/s`,
      );
      rows.push(best);
    }
  }
  return { rows, latency };
}

export function renderTwinsTable(rows: TwinsRow[]): string {
  const lines = [
    "| workload | pairing | messages per record | server CPU per record | ÷ pairing off | records/s to 1 client |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const row of rows) {
    const off = rows.find((r) => r.workload === row.workload && !r.dedupe);
    const ratio = off === undefined ? "" : `×${(row.cpuMicrosPerRecord / off.cpuMicrosPerRecord).toFixed(2)}`;
    lines.push(
      `| ${row.workload} | ${row.dedupe ? "on" : "off"} | ${row.messagesPerRecord.toFixed(2)} | ${row.cpuMicrosPerRecord.toFixed(2)} µs | ${ratio} | ${Math.round(row.recordsPerSecond).toLocaleString("en-US")} |`,
    );
  }
  return lines.join("\n");
}

/** The block the page has, or "" when it has none. */
export const twinsBlockOf = (page: string): string => blockOf(page, "twins");

/** Puts the block in the page: in place of the one it has, else before the profile or analysis. */
export const spliceTwinsBlock = (page: string, block: string): string =>
  spliceBlock(page, "twins", "## One record, one entry: pairing the processor's two copies", block);

function renderLatencyTable(latency: TwinsLatency[]): string {
  const lines = ["| pairing | records | p50 | p99 | max |", "| --- | --- | --- | --- | --- |"];
  for (const row of latency)
    lines.push(
      `| ${row.dedupe ? "on" : "off (first copy)"} | ${row.records} | ${row.p50Ms.toFixed(2)} ms | ${row.p99Ms.toFixed(2)} ms | ${row.maxMs.toFixed(2)} ms |`,
    );
  return lines.join("\n");
}

export function renderTwinsBlock(
  result: TwinsResult,
  command: string,
  date: string,
  hookstream: string,
): string {
  const { rows, latency } = result;
  return [
    `Measured ${date} with \`${command}\` (${hookstream}). hookstream follows a directory where every record is`,
    "written twice, as github-webhook-server writes it: a text line, then its `log_entry` JSON line, in appends of",
    `${BATCH} records; one client with no filter. "JSON only" is the max-rate scenario's kind of workload (one`,
    "copy per record) beside an empty text file: pairing has nothing to pair, but the window cannot know that",
    "in advance. Server CPU per record includes parsing, pairing, journaling and publishing; best of three runs",
    "each, pairing on and off in turn.",
    "",
    renderTwinsTable(rows),
    "",
    `Latency at ${LATENCY_RATE} records/s for ${LATENCY_MS / 1000} s, from the append of a record's copies (text, then`,
    "JSON right after it) to the client: what waiting for the twin adds.",
    "",
    renderLatencyTable(latency),
  ].join("\n");
}
