/**
 * Bounded soak: writers append fast across rename-rotation, copy-truncate and a day switch while clients with
 * mixed filters drop and resume with cursors and one client reads slowly. At the end every client must hold
 * exactly its subsequence of the reference stream (every line once, each file in write order).
 */
import { expect, test } from "bun:test";
import { copyFileSync, existsSync, renameSync, truncateSync } from "node:fs";
import { join } from "node:path";
import type { LogEntry } from "../../src/logs/entry.ts";
import { entryMatches, type LogFilters } from "../../src/logs/topics.ts";
import { append, connectLogs, jsonLine, type LineFields, textLine } from "../helpers/logs.ts";
import { rawConnect } from "../helpers/raw-ws.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type TestSocket, waitFor, wsConnect } from "../helpers/ws.ts";

/** How long writers run: about 20 s under CI, 5 s on a laptop (SOAK_MS overrides). */
const SOAK_MS = Number(process.env.SOAK_MS ?? (process.env.CI === "true" ? 20_000 : 5_000));
const BATCH_LINES = 400;

const entriesSeen = async (server: TestServer) =>
  ((await (await fetch(server.httpUrl("/health"))).json()) as { logs: { entries_seen: number } }).logs
    .entries_seen;

/** A client that drops its connection now and then and comes back with the cursor of the last entry it got. */
function resumingClient(server: TestServer, query: string) {
  const received: LogEntry[] = [];
  let socket: TestSocket | null = null;
  let stopped = false;
  const pump = async (s: TestSocket) => {
    while (!stopped) {
      let raw: string;
      try {
        raw = await s.next(60_000);
      } catch {
        return; // closed by us
      }
      const message = JSON.parse(raw) as LogEntry & { control?: string };
      if (message.control === "live") continue; // where a resumed backfill meets the live stream
      if (message.control !== undefined) throw new Error(`unexpected control message ${raw}`);
      received.push(message);
    }
  };
  const connect = async () => {
    const cursor = received.at(-1)?.cursor;
    const url = server.wsUrl(`/logs/ws?${query}${cursor ? `${query ? "&" : ""}cursor=${cursor}` : ""}`);
    socket = cursor ? await wsConnect(url) : await connectLogs(server, query);
    void pump(socket);
  };
  let reconnects = 0;
  return {
    received,
    reconnects: () => reconnects,
    start: connect,
    async reconnect() {
      const old = socket;
      old?.close();
      if (old) await old.closed;
      await Bun.sleep(20);
      reconnects++;
      await connect();
    },
    stop() {
      stopped = true;
      socket?.close();
    },
  };
}

test("soak: rotation, copy-truncate, day switch, resuming and slow clients — every entry once, in order", async () => {
  await using server = await startTestServer({
    files: { "server.log": "", "worker.log": "", "webhooks_2026-11-23.json": "" },
    env: { LOG_LAG_BYTES: "65536", WS_BACKPRESSURE_LIMIT_BYTES: "8388608" },
  });
  const filterSets: Array<[string, LogFilters]> = [
    ["level=ERROR", { level: "ERROR" }],
    ["repository=a/b&level=INFO", { repository: "a/b", level: "INFO" }],
    ["event_type=push", { event_type: "push" }],
  ];
  const reference = await connectLogs(server);
  const resuming = filterSets.map(([query]) => resumingClient(server, query));
  for (const client of resuming) await client.start();
  const slow = await rawConnect(server.server.port as number, "/logs/ws");
  await waitFor(async () => {
    const health = (await (await fetch(server.httpUrl("/health"))).json()) as {
      logs: { subscribers: number };
    };
    return health.logs.subscribers === 5;
  });

  const fields = (seq: number): LineFields => ({
    seq,
    level: ["INFO", "ERROR", "DEBUG", "INFO"][seq % 4] as string,
    repository: ["a/b", "c/d", "a/b"][seq % 3] as string,
    event: ["push", "pull_request"][seq % 2] as string,
  });
  let day = "2026-11-23";
  let written = 0;
  let batch = 0;
  const started = Date.now();
  let daySwitched = false;
  for (; Date.now() - started < SOAK_MS; batch++) {
    const lines = Array.from({ length: BATCH_LINES }, (_, k) => fields(written + k));
    const target = batch % 3;
    if (target === 0) append(server, "server.log", lines.map(textLine).join(""));
    else if (target === 1) append(server, `webhooks_${day}.json`, lines.map(jsonLine).join(""));
    else append(server, "worker.log", lines.map(textLine).join(""));
    written += BATCH_LINES;

    if (batch % 7 === 6) {
      // Rename rotation: the writer's next lines go to a fresh server.log.
      renameSync(join(server.logDir, "server.log"), join(server.logDir, `server.log.${batch}`));
      append(server, "server.log", "");
    }
    if (batch % 9 === 8) {
      // Copy-truncate as logrotate does it: the previous copy moves on, the file is copied to worker.log.1
      // (a log name, continued from where worker.log had been read) and emptied. In a quiet moment: a file
      // that grows back past where it had been read before its shrink is noticed is not seen as truncated.
      await waitFor(
        async () => (await entriesSeen(server)) === written,
        10_000,
        "follower caught up before truncation",
      );
      const copy = join(server.logDir, "worker.log.1");
      if (existsSync(copy)) renameSync(copy, join(server.logDir, `worker.log.${batch}`));
      copyFileSync(join(server.logDir, "worker.log"), copy);
      truncateSync(join(server.logDir, "worker.log"), 0);
    }
    if (!daySwitched && Date.now() - started > SOAK_MS / 2) {
      day = "2026-11-24";
      daySwitched = true;
    }
    if (batch % 20 === 10) await resuming[((batch / 20) % resuming.length) | 0]?.reconnect();
    // The slow client reads nothing for most of each second: more than socket buffers absorb.
    if (batch % 100 === 0) slow.pause();
    if (batch % 100 === 80) slow.resume();
    await Bun.sleep(10);
  }
  slow.resume();
  const TOTAL = written;
  const BATCHES = batch;

  const all = (await reference.take(TOTAL, 30_000)).map((raw) => JSON.parse(raw) as LogEntry);
  const seqOfEntry = (entry: LogEntry) => Number(entry.message.replace(/^msg /, ""));
  // Every line exactly once.
  expect(new Set(all.map(seqOfEntry)).size).toBe(TOTAL);
  // Each file's lines in the order they were written (batches of one file never interleave).
  const order = all.map(seqOfEntry);
  for (let i = 1; i < order.length; i++) {
    const [previous, current] = [order[i - 1] as number, order[i] as number];
    if (Math.floor(previous / BATCH_LINES) === Math.floor(current / BATCH_LINES))
      expect(current).toBe(previous + 1);
  }
  const referenceCursors = all.map((entry) => entry.cursor);

  for (const [i, [query, filters]] of filterSets.entries()) {
    const client = resuming[i];
    if (client === undefined) throw new Error("missing client");
    const expected = all.filter((entry) => entryMatches(entry, filters)).map((entry) => entry.cursor);
    await waitFor(() => client.received.length >= expected.length, 20_000, `${query} complete`);
    client.stop();
    expect({ query, cursors: client.received.map((entry) => entry.cursor) }).toEqual({
      query,
      cursors: expected,
    });
  }
  await waitFor(() => slow.messages.length >= TOTAL, 20_000, "slow client complete");
  expect(slow.messages.map((raw) => (JSON.parse(raw) as LogEntry).cursor)).toEqual(referenceCursors);
  const health = (await (await fetch(server.httpUrl("/health"))).json()) as {
    logs: { truncations_seen: number; rotations_seen: number; lag_events: number };
  };
  expect(health.logs.truncations_seen).toBeGreaterThanOrEqual(Math.floor(BATCHES / 9));
  expect(health.logs.rotations_seen).toBeGreaterThanOrEqual(Math.floor(BATCHES / 7));
  // The paths under test were really taken.
  expect(daySwitched).toBe(true);
  expect(health.logs.lag_events).toBeGreaterThanOrEqual(1);
  expect(resuming.reduce((sum, client) => sum + client.reconnects(), 0)).toBeGreaterThanOrEqual(3);
  reference.close();
  slow.end();
}, 120_000);
