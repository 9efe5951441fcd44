/**
 * The cluster section of docs/benchmarks.md: its own table (one row per setup, ratios against the
 * 1-instance cluster row and the embedded row) between markers, so a run of that section alone replaces
 * just its block and leaves the rest of the page as it is.
 */
import type { ClusterBenchResult, ClusterRow, LogStreamRow } from "../cluster.ts";
import { blockOf, spliceBlock } from "./page-block.ts";
import { fmt, fmtRate } from "./table.ts";

export const CLUSTER_START = "<!-- cluster:start -->";
export const CLUSTER_END = "<!-- cluster:end -->";
export const CLUSTER_HEADING = "## Cluster mode";
/** The log-stream part's own markers inside the block: a run of that part alone replaces only them. */
export const CLUSTER_LOGS_START = "<!-- cluster-logs:start -->";
export const CLUSTER_LOGS_END = "<!-- cluster-logs:end -->";

export interface ClusterBlockInput {
  result: ClusterBenchResult;
  command: string;
  date: string;
  /** Which hookstream was measured. */
  hookstream: string;
  cpuModel: string;
}

/** A best-of rate, followed by every round's when there were several. */
function withRounds(best: number, rounds: readonly number[]): string {
  return rounds.length > 1 ? `${fmtRate(best)} (${rounds.map(fmtRate).join(", ")})` : fmtRate(best);
}

/** Numbered notes under a table: rows with the same note share its number. */
function createFootnotes() {
  const notes: string[] = [];
  return {
    /** The marks for a row's notes, as a suffix of its label (empty without notes). */
    marks(rowNotes: readonly string[]): string {
      const marks = rowNotes.map((note) => {
        let index = notes.indexOf(note);
        if (index === -1) index = notes.push(note) - 1;
        return `[${index + 1}]`;
      });
      return marks.length > 0 ? ` ${marks.join(" ")}` : "";
    },
    appendTo(lines: string[]): void {
      if (notes.length === 0) return;
      lines.push("");
      notes.forEach((note, i) => {
        lines.push(`[${i + 1}] ${note}  `);
      });
    },
  };
}

function ratio(value: number, base: ClusterRow | undefined): string {
  if (base === undefined || !(base.deliveredPerSecond > 0)) return "—";
  const r = value / base.deliveredPerSecond;
  return `×${fmt(r, 2)}`;
}

function cpuCell(row: ClusterRow): string {
  const pct = (seconds: number) => fmt((seconds / row.cpu.wall) * 100);
  const sum = row.cpu.instances + row.cpu.redis + row.cpu.senders + row.cpu.subscribers;
  return `${pct(row.cpu.instances)} / ${pct(row.cpu.redis)} / ${pct(row.cpu.senders)} / ${pct(row.cpu.subscribers)} (${pct(sum)})`;
}

function notesOf(row: ClusterRow): string[] {
  const notes: string[] = [];
  const failed = Object.entries(row.failedPosts);
  if (failed.length > 0)
    notes.push(
      `POSTs not accepted: ${failed.map(([status, n]) => `${fmt(n)} × ${status}`).join(", ")} (first: ${row.firstPostError})`,
    );
  if (!row.complete) notes.push("not every subscriber had every delivery when the wait ended");
  if (row.unexpected > 0)
    notes.push(`${fmt(row.unexpected)} received deliveries the sender never saw accepted`);
  if (row.closedEarly > 0)
    notes.push(`${row.closedEarly} subscribers closed by the server (${row.firstClose})`);
  if (row.otherStatuses > 0)
    notes.push(`${row.otherStatuses} unexpected status messages (first: \`${row.firstOtherStatus}\`)`);
  if (row.health !== null && (row.health.lagEvents > 0 || row.health.closedTooSlow > 0))
    notes.push(
      `/health: ${row.health.lagEvents} lag events (subscribers caught up: ${row.health.pagesFromMemory} pages from memory, ${row.health.pagesFromStore} from the store), ${row.health.closedTooSlow} closed too slow`,
    );
  if (row.health !== null && row.health.deliveriesFailed > 0)
    notes.push(`/health: ${row.health.deliveriesFailed} deliveries failed to store`);
  if (row.serverWarnings > 0)
    notes.push(
      `${row.serverWarnings} warn/error lines in the instances' logs (first: \`${row.firstServerWarning}\`)`,
    );
  return notes;
}

export function renderClusterTable(result: ClusterBenchResult): string {
  const base = result.rows.find((r) => r.mode === "cluster" && r.instances === 1);
  const embedded = result.rows.find((r) => r.mode === "embedded");
  const header = [
    "Setup",
    "Subscribers per instance",
    "Accepted webhooks/s",
    "Delivered messages/s (rounds)",
    "÷ cluster, 1 instance",
    "÷ embedded",
    "POST → receive p50 / p99 (ms)",
    "Missing / duplicated / out of order",
    "Fan-out done after last POST (ms)",
    "CPU, % of one core: instances / Redis / senders / subscribers (sum)",
    "Instances + Redis CPU per delivered message (µs)",
    "Peak RSS per instance (MB)",
  ];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  const footnotes = createFootnotes();
  for (const row of result.rows) {
    const notes = notesOf(row);
    const marks = footnotes.marks(notes);
    const spreadNote =
      row.mode === "reuseport"
        ? ` (kernel's spread; POST connections ${row.sendersPerInstance.join("/")})`
        : "";
    lines.push(
      `| ${[
        `${row.label}${marks}`,
        `${row.subscribersPerInstance.join(" / ")}${spreadNote}`,
        fmt(row.acceptedPerSecond),
        withRounds(row.deliveredPerSecond, row.deliveredPerSecondRounds),
        ratio(row.deliveredPerSecond, base),
        ratio(row.deliveredPerSecond, embedded),
        `${fmt(row.latency.p50, 1)} / ${fmt(row.latency.p99, 1)}`,
        `${fmt(row.missing)} / ${fmt(row.duplicated)} / ${fmt(row.outOfOrder)}`,
        fmt(row.drainMs),
        cpuCell(row),
        fmt(((row.cpu.instances + row.cpu.redis) / row.delivered) * 1e6, 2),
        row.peakRssMb.map((mb) => fmt(mb)).join(" / "),
      ].join(" | ")} |`,
    );
  }
  footnotes.appendTo(lines);
  return lines.join("\n");
}

export function renderLogStreamTable(rows: readonly LogStreamRow[]): string {
  const embedded = rows.find((r) => r.mode === "embedded");
  const header = [
    "Setup",
    "Lines/s to one client, no loss (rounds)",
    "÷ embedded",
    "Missing / duplicated or reordered",
    "Longest pause between arrivals (ms)",
    "CPU, % of one core: instances / Redis",
    "Instances + Redis CPU per line (µs)",
    "Peak RSS per instance (MB; client's last)",
  ];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  const footnotes = createFootnotes();
  for (const row of rows) {
    const notes: string[] = [];
    if (row.capped) notes.push("the client did not get every line within the time cap");
    if (row.firstClose !== null) notes.push(`the client was closed: ${row.firstClose}`);
    if (row.clientOnWriter) notes.push("the client's instance held the writer lease at the end of a round");
    if (row.serverWarnings > 0)
      notes.push(
        `${row.serverWarnings} warn/error lines in the instances' logs (first: \`${row.firstServerWarning}\`)`,
      );
    const marks = footnotes.marks(notes);
    const pct = (seconds: number) => fmt((seconds / row.cpu.wall) * 100);
    lines.push(
      `| ${[
        `${row.label}${marks}`,
        withRounds(row.receiveRate, row.receiveRateRounds),
        embedded !== undefined && embedded.receiveRate > 0
          ? `×${fmt(row.receiveRate / embedded.receiveRate, 2)}`
          : "—",
        row.loss === 0 ? "0 / 0" : `${fmt(row.loss)} in all`,
        fmt(row.longestGapMs, 1),
        `${pct(row.cpu.instances)} / ${row.mode === "embedded" ? "—" : pct(row.cpu.redis)}`,
        fmt(((row.cpu.instances + row.cpu.redis) / row.lines) * 1e6, 2),
        row.peakRssMb.map((mb) => fmt(mb)).join(" / "),
      ].join(" | ")} |`,
    );
  }
  footnotes.appendTo(lines);
  return lines.join("\n");
}

export interface LogStreamBlockInput {
  result: ClusterBenchResult;
  command: string;
  date: string;
  hookstream: string;
}

/** The log-stream part of the block, with its own markers. */
export function renderLogStreamBlock(input: LogStreamBlockInput): string {
  const { result } = input;
  const o = result.options;
  return [
    CLUSTER_LOGS_START,
    "### Log stream to one client",
    "",
    `Results of \`${input.command}\` on ${input.date}; hookstream: ${input.hookstream}.`,
    "",
    "- The max-rate scenario (`bench/scenarios/maxrate.ts`) against instances that follow one shared log " +
      `directory (\`LOG_DIR\`): the writer process appends ${fmt(o.logLines)} ~300-byte JSON lines as fast as it ` +
      "can in 1,000-line writes; one /logs/ws client (no filter) checks that every sequence number arrives once " +
      "and in order. Rate = lines ÷ (first → last arrival).",
    "- Embedded: one instance without Redis. Cluster, 1 instance: the same instance writes to the Redis stream " +
      "and streams its own mirror. Cluster, 2 instances: the first one started holds the writer lease, the " +
      "client is on the second, which only mirrors (checked on its /health after each round).",
    `- Redis as above, a fresh REDIS_KEY_PREFIX per run and FLUSHALL after it. Every setup ran ${o.rounds} ` +
      "time(s), interleaved; a row shows its best round (every round in brackets); loss summed over all " +
      "rounds, peak RSS the highest of all rounds. CPU from /proc schedstat over the best round, divided by " +
      "its first-append → last-arrival time.",
    "",
    renderLogStreamTable(result.logStream),
    CLUSTER_LOGS_END,
  ].join("\n");
}

/**
 * `block` (a new cluster block) with the log-stream part `page` has, when the run that made it had no
 * log-stream part of its own: a run of the relay part alone replaces only that part, as a run of the log
 * stream alone does (spliceLogStreamBlock).
 */
export function keepLogStreamPart(page: string, block: string): string {
  if (block.includes(CLUSTER_LOGS_START)) return block;
  const part = logStreamPartOf(page);
  return part === null ? block : `${block}\n\n${page.slice(part.start, part.end)}`;
}

/** Where the log-stream part of a page is, its markers included; null when it has none. */
function logStreamPartOf(page: string): { start: number; end: number } | null {
  const start = page.indexOf(CLUSTER_LOGS_START);
  const end = page.indexOf(CLUSTER_LOGS_END);
  return start !== -1 && end > start ? { start, end: end + CLUSTER_LOGS_END.length } : null;
}

/** Replaces the log-stream part of a page's cluster block, or adds it at the block's end. */
export function spliceLogStreamBlock(page: string, logBlock: string): string {
  const part = logStreamPartOf(page);
  if (part !== null) return page.slice(0, part.start) + logBlock + page.slice(part.end);
  const blockEnd = page.indexOf(CLUSTER_END);
  if (blockEnd === -1) return spliceClusterBlock(page, logBlock);
  return `${page.slice(0, blockEnd).trimEnd()}\n\n${logBlock}\n${page.slice(blockEnd)}`;
}

export function renderClusterBlock(input: ClusterBlockInput): string {
  const { result } = input;
  const o = result.options;
  const busiest = (pick: (row: ClusterRow) => number) =>
    Math.max(0, ...result.rows.map((row) => (pick(row) / row.cpu.wall) * 100));
  const busiestSubscriber = busiest((r) => r.cpu.busiestSubscriberProcess);
  const busiestSender = busiest((r) => r.cpu.busiestSenderProcess);
  const saturated =
    Math.max(busiestSubscriber, busiestSender) < 90
      ? "no load process was saturated on its own"
      : "a load process was near a whole core: more load processes may raise the figures";
  const redisMb = result.rows
    .filter((r) => r.redisUsedMb !== null)
    .map((r) => fmt(r.redisUsedMb ?? 0))
    .join(", ");
  return [
    `Results of \`${input.command}\` on ${input.date}.`,
    "",
    `- **${result.cores} CPU cores** (${input.cpuModel}): every instance, Redis and the load processes share ` +
      "them, so this measures what several instances buy on one small machine, not how the design scales " +
      "across machines.",
    `- Redis: \`redis-server\` ${result.redisVersion} on loopback, ${result.redisPersistence}; ` +
      `${result.aofRewrites} AOF rewrite(s) and ${result.aofDelayedFsync} delayed fsync(s) during the section; ` +
      `used memory after each cluster row ${redisMb} MB. Embedded: SQLite with ` +
      "`RELAY_DURABILITY=full` (every 2xx after an fsynced group commit), so its row pays an fsync that the " +
      "cluster rows (Redis fsyncs once a second) do not.",
    `- hookstream: ${input.hookstream}; each instance its own DATA_DIR, every cluster row a fresh ` +
      "REDIS_KEY_PREFIX, RELAY_RETENTION_COUNT=0, a bucket and a token created with " +
      "`REDIS_URL=… bun src/cli.ts … --json`.",
    `- Load: ${fmt(o.subscribers)} subscribers in all (every bucket), spread evenly over the instances and ` +
      `held by ${o.subscriberProcesses} load processes; ${o.inflight} POSTs in flight in all (keep-alive), spread ` +
      `over the instances, from ${o.senderProcesses} sender process(es); ${fmt(result.payloadBytes / 1024, 1)} KB ` +
      `JSON bodies; ${result.warmupSeconds} s warm-up, then ${o.seconds} s measured per row. REUSE_PORT rows: ` +
      "the instances share one port and the kernel spreads the connections (counted per process from /proc). " +
      `The busiest single subscriber process used at most ${fmt(busiestSubscriber)} % of a core and the ` +
      `busiest sender ${fmt(busiestSender)} %: ${saturated}.`,
    `- Every setup ran ${o.rounds} time(s), interleaved; a row shows its best round by delivered/s (every ` +
      "round's delivered/s in brackets) and the loss counts summed over all rounds. Accepted/s = 2xx answers ÷ " +
      "sending time. Delivered/s = messages received by all subscribers ÷ (first POST → last arrival). Each " +
      "subscriber checks that every accepted delivery arrived once, with ids strictly increasing. CPU from " +
      "/proc schedstat over the same window; 200 % is both cores.",
    `- Load average: ${result.load}.`,
    "",
    renderClusterTable(result),
    ...(result.logStream.length > 0 ? ["", renderLogStreamBlock(input)] : []),
  ].join("\n");
}

/** Puts the block into a page: replaces the one there, or adds the section before the profile. */
export const spliceClusterBlock = (page: string, block: string): string =>
  spliceBlock(page, "cluster", CLUSTER_HEADING, block);

/** The block of a page, without its markers; "" when it has none. */
export const clusterBlockOf = (page: string): string => blockOf(page, "cluster");
