/**
 * `/v1/socket` end to end: real server, real Bun WebSocket clients, real HTTP webhooks.
 */
import { describe, expect, test } from "bun:test";
import { type Credentials, relayFixture, runCli, type WebhookMessage } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { wsConnect } from "../helpers/ws.ts";

const SENTINEL_BUCKET = "sentinel";

describe("/v1/socket authentication", () => {
  test("the original exchange: auth, subscribe by name, then the webhook with its exact fields", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("my-bucket");
    const token = await relay.createToken();
    const input = bucket.inputs[0];
    if (input === undefined) throw new Error("no input");

    const socket = await wsConnect(server.wsUrl("/v1/socket"));
    socket.send(JSON.stringify({ action: "auth", key: token.key, secret: token.secret }));
    expect(await socket.next()).toBe(
      '{"type":"status","status":"authenticated","message":"connected successfully, subscribe to buckets"}',
    );
    socket.send(JSON.stringify({ action: "subscribe", buckets: ["my-bucket"] }));
    expect(await socket.next()).toBe(
      '{"type":"status","status":"subscribed","message":"subscribed to buckets: my-bucket"}',
    );

    const response = await relay.post(input.id, '{"hi": "there"}', {
      query: "foo=bar",
      headers: {
        "Content-Type": "application/json",
        "X-GitHub-Event": "ping",
        "user-agent": "insomnia/6.2.3",
      },
    });
    expect(response.status).toBe(200);
    const raw = await socket.next();
    const message = JSON.parse(raw) as WebhookMessage;
    // The original fields in their order, and hookstream's cursor beside meta.
    expect(Object.keys(message)).toEqual(["type", "meta", "cursor", "headers", "query", "body", "method"]);
    expect(Object.keys(message.meta)).toEqual([
      "id",
      "bucked_id",
      "bucket_name",
      "input_id",
      "input_name",
      "output_name",
      "output_destination",
    ]);
    expect(message).toMatchObject({
      type: "webhook",
      meta: {
        bucked_id: bucket.id,
        bucket_name: "my-bucket",
        input_id: input.id,
        input_name: "Default public endpoint",
      },
      query: "foo=bar",
      body: '{"hi": "there"}',
      method: "POST",
    });
    expect(message.meta.id).toMatch(/^\d+$/);
    const { cursors } = await relay.store.deliveryPosition();
    expect(message.cursor).toBe(cursors.format(Number(message.meta.id)));
    expect(message.headers["Content-Type"]).toEqual(["application/json"]);
    expect(message.headers["X-Github-Event"]).toEqual(["ping"]);
    expect(message.headers["User-Agent"]).toEqual(["insomnia/6.2.3"]);
    expect(message.headers["Content-Length"]).toEqual(["15"]);
    expect(message.headers.Host).toBeUndefined();
    socket.close();
  });

  test("a wrong secret gets `unauthorized` and close 4001", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const token = await relay.createToken();
    const socket = await wsConnect(server.wsUrl("/v1/socket"));
    socket.send(JSON.stringify({ action: "auth", key: token.key, secret: `${token.secret}x` }));
    expect(await socket.nextJson()).toEqual({
      type: "status",
      status: "unauthorized",
      message: "invalid key or secret",
    });
    expect((await socket.closed).code).toBe(4001);
  });

  test("an unknown key gets `unauthorized` and close 4001", async () => {
    await using server = await startTestServer();
    const socket = await wsConnect(server.wsUrl("/v1/socket"));
    socket.send(JSON.stringify({ action: "auth", key: crypto.randomUUID(), secret: "nope" }));
    expect((await socket.nextJson()).status).toBe("unauthorized");
    expect(await socket.closed).toEqual({ code: 4001, reason: "invalid credentials" });
  });

  test("a message before auth gets `unauthorized` and close 4001", async () => {
    await using server = await startTestServer();
    for (const first of [
      JSON.stringify({ action: "subscribe" }),
      "not json",
      JSON.stringify({ action: "pong" }),
    ]) {
      const socket = await wsConnect(server.wsUrl("/v1/socket"));
      socket.send(first);
      expect((await socket.nextJson()).status).toBe("unauthorized");
      expect(await socket.closed).toEqual({ code: 4001, reason: "authentication required" });
    }
  });

  test("no auth within RELAY_AUTH_TIMEOUT_MS closes with 4202", async () => {
    await using server = await startTestServer({ env: { RELAY_AUTH_TIMEOUT_MS: "200" } });
    const socket = await wsConnect(server.wsUrl("/v1/socket"));
    expect(await socket.closed).toEqual({ code: 4202, reason: "authentication timeout" });
  });

  test("past the failed attempts per minute, an address is closed with 4208 even with good credentials", async () => {
    await using server = await startTestServer({ env: { RELAY_AUTH_FAILURES_PER_MINUTE: "3" } });
    await using relay = await relayFixture(server);
    const token = await relay.createToken();
    for (let i = 0; i < 3; i++) {
      const socket = await wsConnect(server.wsUrl("/v1/socket"));
      socket.send(JSON.stringify({ action: "auth", key: token.key, secret: "wrong" }));
      expect((await socket.closed).code).toBe(4001);
    }
    const socket = await wsConnect(server.wsUrl("/v1/socket"));
    socket.send(JSON.stringify({ action: "auth", ...token }));
    expect(await socket.closed).toEqual({ code: 4208, reason: "too many failed attempts" });
    // The admin API shares the limit for that key.
    expect((await relay.api("GET", "/v1/buckets", undefined, { ...token, secret: "wrong" })).status).toBe(
      429,
    );
  });

  test("failures with one key do not lock out other keys from the same address", async () => {
    await using server = await startTestServer({ env: { RELAY_AUTH_FAILURES_PER_MINUTE: "3" } });
    await using relay = await relayFixture(server);
    const guessed = await relay.createToken();
    const other = await relay.createToken();
    for (let i = 0; i < 3; i++) {
      const socket = await wsConnect(server.wsUrl("/v1/socket"));
      socket.send(JSON.stringify({ action: "auth", key: guessed.key, secret: `wrong-${i}` }));
      expect((await socket.closed).code).toBe(4001);
    }
    const locked = await wsConnect(server.wsUrl("/v1/socket"));
    locked.send(JSON.stringify({ action: "auth", ...guessed }));
    expect((await locked.closed).code).toBe(4208);
    // Someone else behind the same address, with their own credentials, is served.
    (await relay.authenticated(other)).close();
    expect((await relay.api("GET", "/v1/buckets")).status).toBe(200);
    // Keys that do not exist share one record per address, so they are limited too.
    for (let i = 0; i < 3; i++)
      expect(
        (await relay.api("GET", "/v1/buckets", undefined, { key: crypto.randomUUID(), secret: "x" })).status,
      ).toBe(401);
    expect(
      (await relay.api("GET", "/v1/buckets", undefined, { key: crypto.randomUUID(), secret: "x" })).status,
    ).toBe(429);
    expect((await relay.api("GET", "/v1/buckets")).status).toBe(200);
  });

  test("auth and subscribe sent back to back are both answered, in order", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    await relay.createBucket("a");
    const token = await relay.createToken();
    const socket = await wsConnect(server.wsUrl("/v1/socket"));
    socket.send(JSON.stringify({ action: "auth", ...token }));
    socket.send(JSON.stringify({ action: "subscribe", buckets: ["a"] }));
    expect((await socket.nextJson()).status).toBe("authenticated");
    expect(await socket.nextJson()).toMatchObject({
      status: "subscribed",
      message: "subscribed to buckets: a",
    });
  });

  test("a JSON frame sent as binary is understood", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const token = await relay.createToken();
    const socket = await wsConnect(server.wsUrl("/v1/socket"));
    socket.socket.send(new TextEncoder().encode(JSON.stringify({ action: "auth", ...token })));
    expect((await socket.nextJson()).status).toBe("authenticated");
  });
});

describe("/v1/socket subscriptions", () => {
  async function setup() {
    const server = await startTestServer();
    const relay = await relayFixture(server);
    const a = await relay.createBucket("a");
    const b = await relay.createBucket("b");
    const c = await relay.createBucket("c");
    const token = await relay.createToken();
    const send = async (bucket: typeof a, body: string) => {
      const response = await relay.post((bucket.inputs[0] as { id: string }).id, body);
      expect(response.status).toBe(200);
    };
    return {
      server,
      relay,
      a,
      b,
      c,
      token,
      send,
      async [Symbol.asyncDispose]() {
        await relay[Symbol.asyncDispose]();
        await server[Symbol.asyncDispose]();
      },
    };
  }

  test("missing, null or empty buckets subscribe to all, including buckets created later", async () => {
    await using t = await setup();
    for (const request of [
      { action: "subscribe" },
      { action: "subscribe", buckets: null },
      { action: "subscribe", buckets: [] },
    ]) {
      const socket = await t.relay.authenticated(t.token);
      socket.send(JSON.stringify(request));
      expect(await socket.nextJson()).toMatchObject({
        status: "subscribed",
        message: "subscribed to buckets: a, b, c",
      });
      socket.close();
    }
    const socket = await t.relay.subscribed(t.token, null);
    const d = await t.relay.createBucket("d");
    await t.send(t.a, "to a");
    await t.send(d, "to d");
    const [first, second] = (await socket.take(2)).map((raw) => JSON.parse(raw) as WebhookMessage);
    expect([first?.body, second?.body]).toEqual(["to a", "to d"]);
    expect(socket.pending()).toBe(0);
  });

  test("some buckets by name or id: only theirs arrive", async () => {
    await using t = await setup();
    const socket = await t.relay.subscribed(t.token, ["a", t.c.id]);
    await t.send(t.b, "to b");
    await t.send(t.a, "to a");
    await t.send(t.c, "to c");
    const bodies = (await socket.take(2)).map((raw) => (JSON.parse(raw) as WebhookMessage).body);
    expect(bodies).toEqual(["to a", "to c"]);
    // Sentinel: a last message to a proves nothing for b slipped in between.
    await t.send(t.a, SENTINEL_BUCKET);
    expect((JSON.parse(await socket.next()) as WebhookMessage).body).toBe(SENTINEL_BUCKET);
  });

  test("an unknown bucket is an error naming it; the connection and the previous subscription stay", async () => {
    await using t = await setup();
    const socket = await t.relay.subscribed(t.token, ["a"]);
    socket.send(JSON.stringify({ action: "subscribe", buckets: ["b", "nope"] }));
    const error = await socket.nextJson<{ status: string; message: string }>();
    expect(error.status).toBe("error");
    expect(error.message).toContain('"nope"');
    await t.send(t.b, "to b");
    await t.send(t.a, "to a");
    expect((JSON.parse(await socket.next()) as WebhookMessage).body).toBe("to a");
  });

  test("subscribing again replaces the set", async () => {
    await using t = await setup();
    const socket = await t.relay.subscribed(t.token, ["a"]);
    socket.send(JSON.stringify({ action: "subscribe", buckets: ["b"] }));
    expect((await socket.nextJson()).message).toBe("subscribed to buckets: b");
    await t.send(t.a, "to a");
    await t.send(t.b, "to b");
    expect((JSON.parse(await socket.next()) as WebhookMessage).body).toBe("to b");
  });

  test("a token limited to one bucket cannot read another, and `all` means its own buckets", async () => {
    await using t = await setup();
    const limited = await t.relay.createToken({ buckets: ["a"] });
    const socket = await t.relay.authenticated(limited);
    socket.send(JSON.stringify({ action: "subscribe", buckets: ["b"] }));
    expect(await socket.nextJson()).toMatchObject({ status: "error" });
    // Asked for by id, another bucket is refused by that id: its name stays unknown to this token.
    socket.send(JSON.stringify({ action: "subscribe", buckets: [t.b.id] }));
    expect((await socket.nextJson()).message).toBe(
      `cannot subscribe to "${t.b.id}": no such bucket, or not readable with this token`,
    );
    socket.send(JSON.stringify({ action: "subscribe" }));
    expect((await socket.nextJson()).message).toBe("subscribed to buckets: a");
    await t.send(t.b, "to b");
    await t.send(t.c, "to c");
    await t.send(t.a, "to a");
    expect((JSON.parse(await socket.next()) as WebhookMessage).body).toBe("to a");
    expect(socket.pending()).toBe(0);
  });

  test("invalid JSON and unknown actions get an error status; the connection stays", async () => {
    await using t = await setup();
    const socket = await t.relay.subscribed(t.token, ["a"]);
    socket.send("{oops");
    expect(await socket.nextJson()).toEqual({ type: "status", status: "error", message: "invalid JSON" });
    socket.send(JSON.stringify({ action: "dance" }));
    expect(await socket.nextJson()).toEqual({
      type: "status",
      status: "error",
      message: 'unknown action "dance"',
    });
    socket.send(JSON.stringify({ action: "pong" }));
    await t.send(t.a, "still here");
    expect((JSON.parse(await socket.next()) as WebhookMessage).body).toBe("still here");
  });

  test("pings arrive every RELAY_PING_INTERVAL_MS once authenticated", async () => {
    await using server = await startTestServer({ env: { RELAY_PING_INTERVAL_MS: "100" } });
    await using relay = await relayFixture(server);
    const socket = await relay.authenticated(await relay.createToken());
    expect(await socket.next(2000)).toBe('{"type":"status","status":"ping"}');
    socket.send(JSON.stringify({ action: "pong" }));
    expect(await socket.next(2000)).toBe('{"type":"status","status":"ping"}');
  });
});

describe("/v1/socket revocation and shutdown", () => {
  test("revoking a token through the API closes its sockets with 4003", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const token = await relay.createToken();
    const other = await relay.createToken();
    const sockets = [await relay.subscribed(token), await relay.subscribed(token)];
    const bystander = await relay.subscribed(other);
    expect((await relay.api("DELETE", `/v1/tokens/${token.key}`)).status).toBe(204);
    for (const socket of sockets)
      expect(await socket.closed).toEqual({ code: 4003, reason: "token revoked" });
    // The revoked token no longer authenticates; the other one still does.
    const again = await wsConnect(server.wsUrl("/v1/socket"));
    again.send(JSON.stringify({ action: "auth", ...token }));
    expect((await again.closed).code).toBe(4001);
    bystander.send(JSON.stringify({ action: "subscribe" }));
    expect((await bystander.nextJson()).status).toBe("subscribed");
  });

  test("revoking a token with the CLI while the server runs closes its sockets within seconds", async () => {
    await using server = await startTestServer({ env: { RELAY_RECHECK_MS: "100" } });
    await using relay = await relayFixture(server);
    const token: Credentials = await relay.createToken();
    const socket = await relay.subscribed(token);
    const started = Date.now();
    const cli = await runCli(["token", "revoke", token.key], { DATA_DIR: server.dataDir });
    expect(cli.code).toBe(0);
    expect(await socket.closed).toEqual({ code: 4003, reason: "token revoked" });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("a revocation by the CLI reaches the running server at once, without waiting for its poll", async () => {
    // The poll is a minute here: the socket can only close this soon because the store reported the change.
    await using server = await startTestServer({ env: { RELAY_RECHECK_MS: "60000" } });
    await using relay = await relayFixture(server);
    const token: Credentials = await relay.createToken();
    const socket = await relay.subscribed(token);
    expect((await runCli(["token", "revoke", token.key], { DATA_DIR: server.dataDir })).code).toBe(0);
    const revoked = performance.now();
    expect(await socket.closed).toEqual({ code: 4003, reason: "token revoked" });
    expect(performance.now() - revoked).toBeLessThan(2_000);
  });

  test("shutdown closes relay sockets with 1001 `Server shutdown`", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const token = await relay.createToken();
    const subscribed = await relay.subscribed(token);
    const waiting = await wsConnect(server.wsUrl("/v1/socket"));
    await server.shutdown();
    expect(await subscribed.closed).toEqual({ code: 1001, reason: "Server shutdown" });
    expect(await waiting.closed).toEqual({ code: 1001, reason: "Server shutdown" });
  });
});
