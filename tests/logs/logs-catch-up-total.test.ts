/**
 * Many clients catching up from the journal at once share `CATCH_UP_TOTAL_BYTES`: each one's queue and pages
 * shrink to its share (tests/stream/catch-up-share.test.ts holds the bound itself). Here, against the real
 * server, clients that resume together under a total far below their own marks still get every entry once,
 * in order, and then go live; the relay takes the same setting from the configuration.
 */
import { expect, test } from "bun:test";
import { loadConfig } from "../../src/process/config.ts";
import { append, connectLogs, seqOf, textLine } from "../helpers/logs.ts";
import { rawConnect } from "../helpers/raw-ws.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

const LINES = 6_000; // ~2 MB of entries: each client's share is a few KiB of it at a time
const CLIENTS = 8;

test("clients resuming together under a small shared total each get every entry once, in order", async () => {
  await using server = await startTestServer({
    files: { "server.log": "" },
    env: { CATCH_UP_TOTAL_BYTES: String(64 * 1024) },
  });
  const first = await connectLogs(server);
  append(server, "server.log", textLine({ seq: 0 }));
  const cursor = (JSON.parse(await first.next()) as { cursor: string }).cursor;
  for (let i = 1; i < LINES; i += 1000)
    append(
      server,
      "server.log",
      Array.from({ length: Math.min(1000, LINES - i) }, (_, k) => textLine({ seq: i + k })).join(""),
    );
  await first.take(LINES - 1, 20_000);
  first.close();

  // Paused while they are started, so all of them catch up at once and their queues fill.
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, () =>
      rawConnect(server.server.port as number, `/logs/ws?cursor=${cursor}`),
    ),
  );
  for (const client of clients) client.pause();
  await waitFor(
    async () =>
      ((await (await fetch(server.httpUrl("/health"))).json()) as { logs: { catching_up: number } }).logs
        .catching_up === CLIENTS,
    5000,
    "every client catching up",
  );
  for (const client of clients) client.resume();
  for (const client of clients) {
    await waitFor(() => client.messages.length >= LINES, 20_000, "client caught up");
    expect(client.messages.slice(0, LINES - 1).map(seqOf)).toEqual(
      Array.from({ length: LINES - 1 }, (_, i) => i + 1),
    );
    expect(JSON.parse(client.messages[LINES - 1] as string)).toEqual({ control: "live" });
    client.end();
  }
});

test("both streams read the shared catch-up total from the configuration", () => {
  const loaded = loadConfig({ CATCH_UP_TOTAL_BYTES: "1048576" });
  if (!loaded.ok) throw new Error(loaded.problems.join("; "));
  expect(loaded.config.catchUpTotalBytes).toBe(1048576);
  expect(loaded.config.relay.catchUpTotalBytes).toBe(1048576);
  const defaults = loadConfig({});
  if (!defaults.ok) throw new Error(defaults.problems.join("; "));
  expect(defaults.config.catchUpTotalBytes).toBe(128 * 1024 * 1024);
});
