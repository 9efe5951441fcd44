import { describe, expect, test } from "bun:test";
import { parsePageQuery } from "../../src/web/client/query.ts";
import {
  type ConnectionState,
  createLogStream,
  type SocketLike,
  type StreamEvents,
} from "../../src/web/client/stream.ts";
import type { ProbeAnswer } from "../../src/web/client/stream-messages.ts";

class FakeSocket implements SocketLike {
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  closedByClient = false;
  constructor(readonly url: string) {}
  open() {
    this.onopen?.(new Event("open"));
  }
  receive(value: unknown) {
    this.onmessage?.(new MessageEvent("message", { data: JSON.stringify(value) }));
  }
  drop(code = 1006, reason = "") {
    this.onclose?.(new CloseEvent("close", { code, reason }));
  }
  close() {
    this.closedByClient = true;
  }
}

function harness(search = "repository=a/b", probeAnswer: ProbeAnswer | null = null) {
  const sockets: FakeSocket[] = [];
  const timers: Array<{ run: () => void; ms: number }> = [];
  const states: ConnectionState[] = [];
  const received: string[] = [];
  const notices: string[] = [];
  let unauthorized = 0;
  const events: StreamEvents = {
    entry: (entry) => received.push(entry.message),
    gap: (notice) => notices.push(`gap ${notice.resumed_from}`),
    serverError: (message) => notices.push(`error ${message}`),
    state: (state) => states.push(state),
    unauthorized: () => unauthorized++,
  };
  const stream = createLogStream({
    origin: { protocol: "http:", host: "h" },
    query: parsePageQuery(new URLSearchParams(search)),
    events,
    createSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    probe: async () => probeAnswer,
    random: () => 0.5,
    setTimer: (run, ms) => timers.push({ run, ms }),
    clearTimer: () => {},
  });
  const last = () => sockets.at(-1) as FakeSocket;
  const entry = (n: number) => ({
    timestamp: "2026-11-23T10:00:00Z",
    level: "INFO",
    message: `msg ${n}`,
    cursor: `j-${n}`,
  });
  return {
    stream,
    sockets,
    timers,
    states,
    received,
    notices,
    last,
    entry,
    unauthorized: () => unauthorized,
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("log stream connection", () => {
  test("opens with a backfill and is live once the server marks the end of it", () => {
    const h = harness();
    h.stream.start();
    expect(h.last().url).toBe("ws://h/logs/ws?repository=a%2Fb&tail=500");
    h.last().open();
    h.last().receive(h.entry(1));
    expect(h.stream.state.kind).toBe("connecting");
    h.last().receive({ control: "live" });
    expect(h.stream.state.kind).toBe("live");
    expect(h.received).toEqual(["msg 1"]);
  });

  test("after a drop it waits, then resumes right after the last entry it received", () => {
    const h = harness();
    h.stream.start();
    h.last().open();
    h.last().receive(h.entry(1));
    h.last().receive({ control: "live" });
    h.last().receive(h.entry(2));
    h.last().drop(1001, "Server shutdown");
    expect(h.stream.state).toEqual({
      kind: "reconnecting",
      attempt: 1,
      inMs: 500,
      reason: "Server shutdown",
    });
    h.timers.shift()?.run();
    expect(h.last().url).toBe("ws://h/logs/ws?repository=a%2Fb&cursor=j-2");
    expect(h.stream.state.kind).toBe("catching_up");
  });

  test("waits double while the server stays away, and starts again from 0.5 s once live", async () => {
    const h = harness();
    h.stream.start();
    h.last().open();
    h.last().receive({ control: "live" });
    h.last().drop();
    for (let i = 0; i < 6; i++) {
      h.timers.shift()?.run();
      h.last().drop(); // never opened: the probe finds nobody
      await settle();
    }
    expect(h.timers.map((t) => t.ms)).toEqual([10_000]);
    expect(
      h.states.filter((s) => s.kind === "reconnecting").map((s) => (s.kind === "reconnecting" ? s.inMs : 0)),
    ).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    h.timers.shift()?.run();
    h.last().open();
    h.last().receive({ control: "live" });
    h.last().drop();
    expect(h.stream.state).toMatchObject({ kind: "reconnecting", inMs: 500 });
  });

  test("a refused upgrade is explained by the HTTP answer: 401 goes to sign-in", async () => {
    const h = harness("", { status: 401, body: '{"error":"Authentication required"}' });
    h.stream.start();
    h.last().drop();
    await settle();
    expect(h.unauthorized()).toBe(1);
    expect(h.timers).toEqual([]);
  });

  test("a bad filter value stops reconnecting and says why", async () => {
    const h = harness("pr_number=abc", {
      status: 400,
      body: '{"error":"pr_number: must be a positive integer","field":"pr_number"}',
    });
    h.stream.start();
    h.last().drop();
    await settle();
    expect(h.stream.state).toEqual({ kind: "failed", message: "pr_number: must be a positive integer" });
    expect(h.timers).toEqual([]);
  });

  test("new filters start over with a backfill and ignore the old socket", () => {
    const h = harness();
    h.stream.start();
    const old = h.last();
    old.open();
    old.receive(h.entry(1));
    h.stream.reconfigure(parsePageQuery(new URLSearchParams("level=ERROR")));
    expect(old.closedByClient).toBe(true);
    old.receive(h.entry(2));
    old.drop();
    expect(h.received).toEqual(["msg 1"]);
    expect(h.timers).toEqual([]);
    expect(h.last().url).toBe("ws://h/logs/ws?level=ERROR&tail=500");
  });

  test("suspended while paused, it resumes from its cursor", () => {
    const h = harness();
    h.stream.start();
    h.last().open();
    h.last().receive(h.entry(7));
    h.stream.suspend();
    expect(h.stream.state.kind).toBe("suspended");
    expect(h.sockets[0]?.closedByClient).toBe(true);
    h.stream.resume();
    expect(h.last().url).toBe("ws://h/logs/ws?repository=a%2Fb&cursor=j-7");
  });

  test("gap notices and server messages are passed on, not taken for entries", () => {
    const h = harness();
    h.stream.start();
    h.last().open();
    h.last().receive({ control: "gap", requested: "x-1", resumed_from: "x-9", message: "gone" });
    h.last().receive({ error: "Log directory not found" });
    expect(h.notices).toEqual(["gap x-9", "error Log directory not found"]);
    expect(h.received).toEqual([]);
  });
});
