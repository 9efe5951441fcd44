import { describe, expect, test } from "bun:test";
import { createSocketTransport } from "../../src/transport/bun-ws.ts";
import { createConnectionLimiter } from "../../src/transport/connections.ts";
import { CloseCode, closeMeaning, type SocketData, type SocketSession } from "../../src/transport/peer.ts";
import { wsConnect } from "../helpers/ws.ts";

test("a fault inside a session closes its socket with 1011 Internal server error", async () => {
  const errors: string[] = [];
  const limiter = createConnectionLimiter({ max: 10, maxPerIp: 10 });
  const transport = createSocketTransport({
    limiter,
    maxPayloadBytes: 1024,
    backpressureLimitBytes: 1024 * 1024,
    idleTimeoutSeconds: 30,
    log: (_level, message) => errors.push(message),
  });
  const failing: SocketSession = {
    open() {},
    message() {
      throw new Error("boom");
    },
    close() {},
  };
  using server = Bun.serve<SocketData>({
    port: 0,
    fetch(request, srv) {
      limiter.admit("test");
      return srv.upgrade(request, { data: { ip: "test", session: failing } })
        ? undefined
        : new Response("no", { status: 400 });
    },
    websocket: transport.websocket,
  });
  const client = await wsConnect(`ws://127.0.0.1:${server.port}/`);
  client.send("anything");
  expect(await client.closed).toEqual({ code: 1011, reason: "Internal server error" });
  expect(errors.join()).toContain("boom");
  expect(limiter.count()).toBe(0);
});

test("the connection limiter caps globally and per address, and frees slots", () => {
  const limiter = createConnectionLimiter({ max: 3, maxPerIp: 2 });
  expect([limiter.admit("a"), limiter.admit("a"), limiter.admit("a")]).toEqual(["ok", "ok", "address_full"]);
  expect([limiter.admit("b"), limiter.admit("c")]).toEqual(["ok", "server_full"]);
  limiter.release("a");
  expect(limiter.admit("c")).toBe("ok");
  expect(limiter.count()).toBe(3);
});

describe("close codes", () => {
  const cases: Array<[string, number, ReturnType<typeof closeMeaning>]> = [
    ["bad credentials are final", CloseCode.UNAUTHORIZED, "final"],
    ["a revoked token is final", CloseCode.TOKEN_REVOKED, "final"],
    ["a too-slow client resumes with its cursor", CloseCode.TOO_SLOW, "resume"],
    ["a client behind retention resumes with its cursor", CloseCode.BEHIND_RETENTION, "resume"],
    ["an authentication timeout is retried", CloseCode.AUTH_TIMEOUT, "retry"],
    ["a rate-limited address retries later", CloseCode.RATE_LIMITED, "retry"],
    ["a code unknown to the client acts on its range", 4150, "resume"],
    ["the server's shutdown keeps its WebSocket meaning", CloseCode.GOING_AWAY, "standard"],
  ];
  for (const [name, code, meaning] of cases) test(name, () => expect(closeMeaning(code)).toBe(meaning));

  test("every code hookstream sends is standard or in its range", () => {
    for (const code of Object.values(CloseCode)) {
      const meaning = closeMeaning(code);
      expect(meaning === "standard" ? code < 4000 : code >= 4000 && code < 4300).toBe(true);
    }
  });
});
