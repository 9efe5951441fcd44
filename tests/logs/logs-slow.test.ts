import { describe, expect, test } from "bun:test";
import { append, connectLogs, seqOf, textLine } from "../helpers/logs.ts";
import { procNetTcpAvailable, type RawWebSocket, rawConnect, serverSideTcpState } from "../helpers/raw-ws.ts";
import { requireTool } from "../helpers/requirements.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor, wsConnect } from "../helpers/ws.ts";

interface Health {
  connections: number;
  logs: { subscribers: number; catching_up: number; lag_events: number; closed_too_slow: number };
}
const health = async (server: TestServer) =>
  (await (await fetch(server.httpUrl("/health"))).json()) as Health;

const LINES = 30_000; // ~10 MB: far more than the kernel's socket buffers hold
const env = { WS_BACKPRESSURE_LIMIT_BYTES: "8388608", LOG_LAG_BYTES: "65536" };

async function writeLines(server: TestServer, from: number, count: number) {
  for (let i = from; i < from + count; i += 1000) {
    append(
      server,
      "server.log",
      Array.from({ length: Math.min(1000, from + count - i) }, (_, k) => textLine({ seq: i + k })).join(""),
    );
    await Bun.sleep(1);
  }
}

/** A client that stops reading while LINES are written, until the server closes it as stalled. */
async function stallClient(server: TestServer): Promise<RawWebSocket> {
  const stuck = await rawConnect(server.server.port as number, "/logs/ws");
  await waitFor(async () => (await health(server)).logs.subscribers === 1, 5000, "subscribed");
  stuck.pause();
  await writeLines(server, 0, LINES);
  await waitFor(
    async () => (await health(server)).logs.closed_too_slow === 1,
    20_000,
    "stalled client closed",
  );
  return stuck;
}

/** What a stalled client got is a prefix in order, and resuming with its last cursor brings the rest once. */
async function expectResumeCompletes(server: TestServer, stuck: RawWebSocket): Promise<void> {
  const received = stuck.messages.map(seqOf);
  expect(received).toEqual(Array.from({ length: received.length }, (_, i) => i));
  const last = JSON.parse(stuck.messages.at(-1) as string) as { cursor: string };
  const resumed = await wsConnect(server.wsUrl(`/logs/ws?cursor=${last.cursor}`));
  const rest = (await resumed.take(LINES - received.length, 20_000)).map(seqOf);
  expect(await resumed.nextJson()).toEqual({ control: "live" });
  expect([...received, ...rest]).toEqual(Array.from({ length: LINES }, (_, i) => i));
  resumed.close();
}

describe("slow consumers", () => {
  test("a slow client leaves the live topic, catches up from the journal, loses nothing and delays no one", async () => {
    await using server = await startTestServer({ files: { "server.log": "" }, env });
    const fast = await connectLogs(server);
    const slow = await rawConnect(server.server.port as number, "/logs/ws");
    await waitFor(async () => (await health(server)).logs.subscribers === 2, 5000, "both subscribed");
    slow.pause();

    await writeLines(server, 0, LINES);
    // The fast client gets everything while the slow one reads nothing.
    expect((await fast.take(LINES, 20_000)).map(seqOf)).toEqual(Array.from({ length: LINES }, (_, i) => i));
    const during = await health(server);
    expect(during.logs.lag_events).toBeGreaterThanOrEqual(1);
    expect(during.logs.catching_up).toBe(1);
    expect(slow.messages.length).toBeLessThan(LINES);

    slow.resume();
    await waitFor(() => slow.messages.length >= LINES, 20_000, "slow client caught up");
    expect(slow.messages.map(seqOf)).toEqual(Array.from({ length: LINES }, (_, i) => i));
    // Back on the live topic: a new line arrives once, at both.
    await waitFor(async () => (await health(server)).logs.catching_up === 0, 5000, "slow client live again");
    append(server, "server.log", textLine({ seq: LINES }));
    expect(seqOf(await fast.next())).toBe(LINES);
    await waitFor(() => slow.messages.length === LINES + 1, 5000, "live line at the slow client");
    expect(seqOf(slow.messages.at(-1) as string)).toBe(LINES);
    fast.close();
    slow.end();
  }, 60_000);

  test("a client that stops reading is closed with 4100 and resumes with its last cursor", async () => {
    await using server = await startTestServer({
      files: { "server.log": "" },
      env: { ...env, LOG_STALL_TIMEOUT_MS: "300" },
    });
    const stuck = await stallClient(server);
    stuck.resume();
    await waitFor(() => stuck.close !== null, 20_000, "close frame read");
    expect(stuck.close?.code).toBe(4100);
    expect(stuck.close?.reason).toContain("cursor");
    await expectResumeCompletes(server, stuck);
    stuck.end();
  }, 60_000);

  test.if(requireTool("/proc/net/tcp", procNetTcpAvailable, "run on Linux"))(
    "a client that reads nothing until the server gives up is dropped, and resumes with its cursor",
    async () => {
      await using server = await startTestServer({
        files: { "server.log": "" },
        env: { ...env, LOG_STALL_TIMEOUT_MS: "300", WS_IDLE_TIMEOUT_S: "1" },
      });
      const stuck = await stallClient(server);
      // The 4100 frame is queued behind the bytes the client never read, and the server gives up on the
      // connection (idle timeout). Whether the frame still arrives depends on the kernel: a send buffer that
      // grew before the server let go may hold it. Either way the client resumes with its last cursor.
      const port = server.server.port as number;
      await waitFor(() => serverSideTcpState(stuck, port) !== "01", 20_000, "the server letting go");
      const ended = new Promise((resolve) => stuck.socket.once("close", resolve));
      stuck.resume();
      await ended;
      // No frame (a browser reports 1006), or the 4100 the kernel had taken: never another code.
      expect(stuck.close === null ? null : stuck.close.code).toBeOneOf([null, 4100]);
      expect(stuck.messages.length).toBeGreaterThan(0);
      await expectResumeCompletes(server, stuck);
    },
    60_000,
  );
});
