/**
 * History query benchmark: filtered `/logs/api/entries` queries over a large log directory (1 GB, about 3
 * million JSON lines in ten daily files; `--quick`: 100 MB), against a real hookstream process.
 *
 * - cold: a fresh process; the first filtered query, which waits for the index to be built;
 * - restart: the same process stopped (it saves the index in DATA_DIR) and started again over the same
 *   DATA_DIR and log directory; the first filtered query, answered from the saved index — measured in the same
 *   run as cold, so the ratio holds on a busy machine; `/health` shows it indexed none of the old bytes;
 * - warm: 100 filtered queries (each a different hook id, repository or level + repository) once indexed;
 * - the baseline a viewer without an index pays on every request: parsing every line of every file once,
 *   measured in this process with hookstream's own parser, so the ratio compares like with like.
 *
 * Run alone: `bun bench/history.ts [--quick]`; `bun bench/run.ts --only history` includes it in the table.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseJsonLine } from "../src/logs/parse.ts";
import { freePort, REPO_ROOT } from "./lib/peers.ts";
import { rssKb } from "./lib/proc.ts";
import { summarise } from "./lib/stats.ts";

export interface HistoryBenchResult {
  bytes: number;
  lines: number;
  files: number;
  /** From process start until the first filtered query answered (index built on the way). */
  coldFirstQueryMs: number;
  /** Bytes indexed per second during the cold start. */
  indexMBps: number;
  /** From a restarted process's start until the same query answered completely from the saved index (median). */
  restartFirstQueryMs: number;
  /** From a restarted process's listening until that answer (median): the history's own part of a restart. */
  restartAfterListeningMs: number;
  /** From a process's start until it answered `/health` (start-up alone, index or not). */
  listeningMs: { cold: number; restart: number };
  /** Log bytes a restarted process indexed before that answer, the most of any restart (0: none of the old bytes read again). */
  restartBytesIndexed: number;
  /** Size of the saved index in DATA_DIR. */
  savedIndexBytes: number;
  warm: { p50: number; p99: number; count: number };
  /** A case-insensitive message search, which no index helps: it reads every chunk. */
  searchMs: number;
  searchComplete: boolean;
  /** Parsing every line once, as a viewer without an index does per request. */
  fullParseMs: number;
  serverRssMb: number;
}

const REPOSITORIES = 200;
const USERS = 100;
const LINES_PER_HOOK = 40;
/** Restarts measured; the median is reported. */
const RESTARTS = 3;
const LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARNING", "ERROR", "STEP"];
const EVENTS = ["pull_request", "push", "issue_comment", "check_run", "pull_request_review"];

function line(seq: number, startMs: number): string {
  const hook = Math.floor(seq / LINES_PER_HOOK);
  return `${JSON.stringify({
    type: "log_entry",
    timestamp: new Date(startMs + seq * 20).toISOString(),
    level: LEVELS[seq % LEVELS.length],
    logger_name: "GithubWebhook",
    message: `Processing step ${seq % LINES_PER_HOOK} of webhook ${hook}: checking labels, reviewers and CI status`,
    hook_id: `d1f0c6a2-${hook.toString(16).padStart(8, "0")}`,
    event_type: EVENTS[hook % EVENTS.length],
    repository: `acme/service-${hook % REPOSITORIES}`,
    pr_number: 1000 + (hook % 5000),
    api_user: `dev-${hook % USERS}`,
  })}\n`;
}

async function generate(
  dir: string,
  totalBytes: number,
  files: number,
): Promise<{ lines: number; bytes: number }> {
  const perFile = totalBytes / files;
  const startMs = Date.UTC(2026, 10, 1);
  let seq = 0;
  let bytes = 0;
  for (let f = 0; f < files; f++) {
    const day = new Date(startMs + f * 86_400_000).toISOString().slice(0, 10);
    const writer = Bun.file(join(dir, `webhooks_${day}.json`)).writer({ highWaterMark: 4 * 1024 * 1024 });
    let written = 0;
    while (written < perFile) {
      const batch: string[] = [];
      for (let i = 0; i < 5000; i++) batch.push(line(seq++, startMs));
      const text = batch.join("");
      writer.write(text);
      written += text.length;
    }
    await writer.end();
    bytes += written;
  }
  return { lines: seq, bytes };
}

/** A hookstream process over `root`'s data and log directories, listening once this returns. */
async function startHookstream(root: string, port: number) {
  const server = Bun.spawn([process.execPath, join(REPO_ROOT, "src/main.ts")], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: join(root, "data"),
      LOG_DIR: join(root, "logs"),
      // Under Bun.serve's 10 s idle timeout: an incomplete answer is asked again.
      HISTORY_BUDGET_MS: "5000",
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  const startedAt = performance.now();
  const deadline = Date.now() + 60_000;
  while (true) {
    try {
      await fetch(`http://127.0.0.1:${port}/health`);
      return { server, startedAt, listeningMs: performance.now() - startedAt };
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`hookstream did not listen within 60 s: ${String(error)}`);
      await Bun.sleep(20);
    }
  }
}

export async function runHistoryBench(
  quick: boolean,
  log: (line: string) => void,
): Promise<HistoryBenchResult> {
  const root = mkdtempSync(join(tmpdir(), "hookstream-history-"));
  const logDir = join(root, "logs");
  await Bun.write(join(logDir, ".keep"), "");
  const totalBytes = quick ? 100 * 1024 * 1024 : 1024 * 1024 * 1024;
  const started = performance.now();
  const { lines, bytes } = await generate(logDir, totalBytes, 10);
  log(
    `history: wrote ${(bytes / 1048576).toFixed(0)} MB, ${lines.toLocaleString("en")} lines in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  // Baseline: parse everything once (what a viewer without an index repeats on every request).
  const parseStart = performance.now();
  const glob = new Bun.Glob("*.json");
  for await (const name of glob.scan(logDir)) {
    const text = await Bun.file(join(logDir, name)).text();
    let start = 0;
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
      parseJsonLine(text.slice(start, end), { naiveZone: "Z" }, "");
      start = end + 1;
    }
  }
  const fullParseMs = performance.now() - parseStart;

  const port = await freePort();
  let { server, startedAt: processStart, listeningMs } = await startHookstream(root, port);
  try {
    const base = `http://127.0.0.1:${port}/logs/api/entries`;
    const query = async (params: string) => {
      const t = performance.now();
      const response = await fetch(`${base}?${params}`);
      if (response.status !== 200) throw new Error(`history query ${params}: HTTP ${response.status}`);
      const body = (await response.json()) as { entries: unknown[]; complete: boolean };
      return { ms: performance.now() - t, body };
    };
    const hooks = Math.floor(lines / LINES_PER_HOOK);
    // The first complete answer: asked again while the index is not built yet (each answer within the budget).
    const firstQuery = async (what: string) => {
      const params = `hook_id=d1f0c6a2-${Math.floor(hooks / 3)
        .toString(16)
        .padStart(8, "0")}`;
      let first = await query(params);
      while (!first.body.complete) first = await query(params);
      if (first.body.entries.length !== LINES_PER_HOOK)
        throw new Error(`${what} query found ${first.body.entries.length} entries`);
      return performance.now() - processStart;
    };
    // Cold: the first complete answer to a filtered query (the index is built on the way).
    const coldFirstQueryMs = await firstQuery("cold");
    const coldListeningMs = listeningMs;
    log(
      `history: cold first filtered query ${coldFirstQueryMs.toFixed(0)} ms after start, listening after ` +
        `${coldListeningMs.toFixed(0)} ms (index built on the way)`,
    );

    const samples: number[] = [];
    for (let i = 0; i < 100; i++) {
      const hook = Math.floor((((i * 7919) % 997) / 997) * hooks);
      const params = [
        `hook_id=d1f0c6a2-${hook.toString(16).padStart(8, "0")}`,
        `repository=acme/service-${i % REPOSITORIES}&limit=100`,
        `repository=acme/service-${i % REPOSITORIES}&level=ERROR&limit=50`,
        `github_user=dev-${i % USERS}&event_type=push&limit=100`,
      ][i % 4] as string;
      samples.push((await query(params)).ms);
    }
    const warm = summarise(Float64Array.from(samples));
    log(`history: warm filtered queries p50 ${warm.p50.toFixed(2)} ms, p99 ${warm.p99.toFixed(2)} ms`);
    const search = await query("search=webhook%2012345%3A&limit=100");
    log(`history: full-text search ${search.ms.toFixed(0)} ms (complete: ${search.body.complete})`);
    const serverRssMb = rssKb(server.pid) / 1024;

    // Restart: a clean stop saves the index; the next process takes it back and reads only what was appended.
    // RESTARTS of them, the median reported: one start-up on a busy machine varies by hundreds of ms.
    const restarts: Array<{ firstQueryMs: number; listeningMs: number; bytesIndexed: number }> = [];
    let savedIndexBytes = 0;
    for (let i = 0; i < RESTARTS; i++) {
      server.kill("SIGTERM");
      await server.exited;
      savedIndexBytes = statSync(join(root, "data", "history.index")).size;
      ({ server, startedAt: processStart, listeningMs } = await startHookstream(root, port));
      const firstQueryMs = await firstQuery("restart");
      const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as {
        history: { bytes_indexed: number };
      };
      restarts.push({ firstQueryMs, listeningMs, bytesIndexed: health.history.bytes_indexed });
      log(
        `history: restart ${i + 1}: first filtered query ${firstQueryMs.toFixed(0)} ms after start, listening ` +
          `after ${listeningMs.toFixed(0)} ms (answered ${(firstQueryMs - listeningMs).toFixed(0)} ms after that), ` +
          `${health.history.bytes_indexed} log bytes indexed again`,
      );
    }
    const median = restarts.map((r) => r.firstQueryMs).sort((x, y) => x - y)[RESTARTS >> 1] as number;
    const medianListening = restarts.map((r) => r.listeningMs).sort((x, y) => x - y)[RESTARTS >> 1] as number;
    const medianAfterListening = restarts.map((r) => r.firstQueryMs - r.listeningMs).sort((x, y) => x - y)[
      RESTARTS >> 1
    ] as number;
    log(
      `history: after a restart, first filtered query ${median.toFixed(0)} ms after start (median of ${RESTARTS}; ` +
        `saved index ${(savedIndexBytes / 1048576).toFixed(1)} MB), ${medianAfterListening.toFixed(0)} ms after ` +
        `listening (cold: ${(coldFirstQueryMs - coldListeningMs).toFixed(0)} ms); cold ÷ restart ×${(coldFirstQueryMs / median).toFixed(1)}`,
    );
    return {
      bytes,
      lines,
      files: 10,
      coldFirstQueryMs,
      indexMBps: bytes / 1048576 / (coldFirstQueryMs / 1000),
      restartFirstQueryMs: median,
      listeningMs: { cold: coldListeningMs, restart: medianListening },
      restartAfterListeningMs: medianAfterListening,
      restartBytesIndexed: Math.max(...restarts.map((r) => r.bytesIndexed)),
      savedIndexBytes,
      warm: { p50: warm.p50, p99: warm.p99, count: warm.count },
      searchMs: search.ms,
      searchComplete: search.body.complete,
      fullParseMs,
      serverRssMb,
    };
  } finally {
    server.kill("SIGTERM");
    await server.exited;
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const result = await runHistoryBench(process.argv.includes("--quick"), console.log);
  console.log(JSON.stringify(result, null, 2));
  console.log(
    `warm p50 is ${(result.fullParseMs / result.warm.p50).toFixed(0)}x faster than parsing every file once ` +
      `(${result.fullParseMs.toFixed(0)} ms), as an index-less viewer does per request`,
  );
}
