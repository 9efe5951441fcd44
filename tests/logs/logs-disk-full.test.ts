/**
 * The server with its journal on a disk that fills up (a real tmpfs mounted on `$DATA_DIR/journal`): it stays
 * up, the live stream and the relay go on, `/health` says what failed, and a client that resumes across the
 * outage gets every entry once the journal can be written again.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { append, connectLogs, textLine } from "../helpers/logs.ts";
import { relayFixture } from "../helpers/relay.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { mountSmallDisk, tmpfsAvailable } from "../helpers/tmpfs.ts";
import { waitFor, wsConnect } from "../helpers/ws.ts";

interface Health {
  status: string;
  logs: {
    journal_writing: boolean;
    journal_write_failures: number;
    journal_unwritten: number;
    journal_not_journaled: number;
  };
}

const health = async (server: TestServer) =>
  (await (await fetch(server.httpUrl("/health"))).json()) as Health;

interface Streamed {
  message: string;
  cursor: string;
}

/** Unmounts even when a failing test's server is still winding down. */
const unmount: Array<() => void> = [];
afterEach(() => {
  for (const dispose of unmount.splice(0)) dispose();
});

describe.if(tmpfsAvailable)("a full disk under the journal", () => {
  test("the server stays up, says so in /health, logs once each way, and a resuming client loses nothing", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hookstream-test-"));
    const disk = mountSmallDisk(join(dataDir, "journal"), 3 * 1024 * 1024);
    unmount.push(() => {
      disk[Symbol.dispose]();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const logged: Array<{ level: string; message: string }> = [];
    await using server = await startTestServer({
      dataDir,
      keepDataDir: true,
      files: { "server.log": "" },
      log: (level, message) => logged.push({ level, message }),
    });
    const relay = await relayFixture(server);
    const bucket = await relay.createBucket("hooks");
    const input = bucket.inputs[0]?.id as string;
    const live = await connectLogs(server);
    append(server, "server.log", textLine({ seq: 1 }));
    const first = JSON.parse(await live.next()) as Streamed;

    disk.fill();
    // Webhooks (their log entry is journaled at the end of a microtask) and log lines, in several batches.
    const body = JSON.stringify({ payload: "p".repeat(50_000) });
    for (let i = 2; i <= 21; i++) {
      expect(
        (await relay.post(input, body, { headers: { "Content-Type": "application/json" } })).status,
      ).toBe(200);
      append(server, "server.log", textLine({ seq: i }));
      await live.take(2, 5_000); // the live stream goes on: the delivery's entry and the line
    }
    const during = await health(server);
    expect(during.status).toBe("degraded");
    expect(during.logs.journal_writing).toBe(false);
    expect(during.logs.journal_write_failures).toBeGreaterThanOrEqual(1);
    expect(during.logs.journal_unwritten).toBeGreaterThan(0);
    // Backing off: far fewer attempts than the 40 batches, and one message for all of them.
    expect(during.logs.journal_write_failures).toBeLessThan(10);
    expect(logged.filter((l) => l.message.includes("cannot write the journal"))).toHaveLength(1);

    // A client resuming now is served what waits in memory.
    const early = await wsConnect(server.wsUrl(`/logs/ws?cursor=${first.cursor}`));
    expect(await early.take(40, 5_000)).toHaveLength(40);
    expect(await early.nextJson()).toEqual({ control: "live" });

    disk.free();
    await waitFor(async () => (await health(server)).logs.journal_writing, 10_000, "the journal writable");
    const after = await health(server);
    expect(after.status).toBe("ok");
    expect(after.logs).toMatchObject({ journal_unwritten: 0, journal_not_journaled: 0 });
    expect(logged.filter((l) => l.message.includes("journal is written again"))).toHaveLength(1);

    const resumed = await wsConnect(server.wsUrl(`/logs/ws?cursor=${first.cursor}`));
    const entries = (await resumed.take(40, 5_000)).map((m) => JSON.parse(m) as Streamed);
    expect(entries.filter((e) => /^msg \d+$/.test(e.message)).map((e) => e.message)).toEqual(
      Array.from({ length: 20 }, (_, i) => `msg ${i + 2}`),
    );
    expect(await resumed.nextJson()).toEqual({ control: "live" });
    for (const client of [live, early, resumed]) client.close();
    await relay[Symbol.asyncDispose]();
  }, 30_000);
});
