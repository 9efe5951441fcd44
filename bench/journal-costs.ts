/**
 * What the journal costs on the log pipe's hot path, in-process, without a server: appending and writing
 * entries (per entry, in batches of a follower read); opening a reader near the newest entry, which every
 * catch-up of a socket that fell behind the live topic does (and every resume with a recent cursor); and
 * reading the newest entries back, as that catch-up then does.
 *
 *   bun bench/journal-costs.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openJournal } from "../src/logs/journal.ts";
import { readJournal } from "../src/logs/journal-read.ts";
import { median } from "./lib/stats.ts";

/** Entries appended, in rounds: the newest segment ends up about 28 MiB long. */
const ENTRIES = 100_000;
const ROUNDS = 5;
/** Entries per batch: about one 256 KiB read of the follower. */
const BATCH = 500;
const SEGMENT_BYTES = 32 * 1024 * 1024;

function entry(seq: number): string {
  return (
    `{"timestamp":"2026-11-23T10:00:00.123456+00:00","level":"INFO","logger_name":"GithubWebhook",` +
    `"message":"bench seq=${String(seq).padStart(10, "0")} processing ${"x".repeat(300)}","hook_id":"hook-1",` +
    `"event_type":"pull_request","repository":"org/repo","pr_number":13,"github_user":null,"task_id":null,` +
    `"task_type":null,"task_status":null,"token_spend":null,"cursor":"00000000-${seq.toString(16)}"}`
  );
}

const dir = mkdtempSync(join(tmpdir(), "journal-costs-"));
try {
  const journal = openJournal({ dir, segmentBytes: SEGMENT_BYTES, maxBytes: 1024 ** 3, log: () => {} });
  const lines = Array.from({ length: ENTRIES }, (_, i) => entry(i));
  const appends: number[] = [];
  const perRound = ENTRIES / ROUNDS;
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    for (let i = round * perRound; i < (round + 1) * perRound; i += BATCH) {
      for (let k = i; k < i + BATCH; k++) journal.append(lines[k] as string, true);
      journal.flush();
    }
    appends.push(((performance.now() - started) * 1000) / perRound);
  }
  const appendUs = median(appends);
  const newest = journal.endSeq() - 1;
  const opens: number[] = [];
  for (let round = 0; round < 9; round++) {
    const from = newest - 100 - round;
    const t = performance.now();
    const reader = readJournal(journal, from);
    await reader.next();
    opens.push(performance.now() - t);
    await reader.return(undefined);
  }
  // A catch-up's reading: every entry of the newest 20,000 (within the batches the journal remembers).
  const reads: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t = performance.now();
    let read = 0;
    for await (const batch of readJournal(journal, newest - 20_000 + 1)) read += batch.length;
    reads.push(((performance.now() - t) * 1000) / read);
  }
  const segment = journal.segments().at(-1);
  console.log(
    `append + write: ${appendUs.toFixed(2)} µs per entry (median of ${ROUNDS} rounds of ${perRound} entries of ${lines[0]?.length} bytes, batches of ${BATCH})`,
  );
  console.log(
    `open a reader 100 entries before the newest, ${((segment?.bytes ?? 0) / 1024 / 1024).toFixed(1)} MiB into its segment: ` +
      `${median(opens).toFixed(2)} ms (median of ${opens.length})`,
  );
  console.log(`read back the newest 20,000 entries: ${median(reads).toFixed(2)} µs per entry (median of 5)`);
  journal.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
