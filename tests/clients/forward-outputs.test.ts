/**
 * `hookstream forward` serving an output delivered by an agent, and response passthrough: a real server, real
 * targets (Bun.serve) and the forwarder as a real child process. Also a socket client that never answers.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnChild } from "../helpers/child.ts";
import { type CreatedBucket, type Credentials, type RelayFixture, relayFixture } from "../helpers/relay.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { startTarget } from "../helpers/target.ts";
import { waitFor } from "../helpers/ws.ts";

// Real servers and child processes on a shared 2-core machine: more than bun's 5 s default per test.
setDefaultTimeout(20_000);

let server: TestServer;
let relay: RelayFixture;
let token: Credentials;
let scratch: string;

beforeAll(async () => {
  server = await startTestServer();
  relay = await relayFixture(server);
  token = await relay.createToken();
  scratch = mkdtempSync(join(tmpdir(), "hookstream-forward-outputs-"));
});

afterAll(async () => {
  await relay[Symbol.asyncDispose]();
  await server[Symbol.asyncDispose]();
  rmSync(scratch, { recursive: true, force: true });
});

function agent(bucket: string, flags: string[]) {
  return spawnChild(
    [
      "forward",
      "--url",
      server.httpUrl("/"),
      "--cursor-file",
      join(scratch, `${crypto.randomUUID()}.json`),
      "--buckets",
      bucket,
      ...flags,
    ],
    { RELAY_KEY: token.key, RELAY_SECRET: token.secret },
  );
}

async function setPassthrough(bucket: CreatedBucket, timeoutMs: number) {
  const input = bucket.inputs[0]?.id as string;
  const response = await relay.api("PUT", `/v1/buckets/${bucket.name}/inputs/${input}`, {
    passthrough: true,
    passthrough_timeout_ms: timeoutMs,
    response: { status: 200, body: "configured", headers: { "Content-Type": "text/plain" } },
  });
  expect(response.status).toBe(200);
  expect(await response.json()).toMatchObject({ passthrough: true, passthrough_timeout_ms: timeoutMs });
}

describe("forward --output", () => {
  test("serves only its output, sending each webhook to the output's destination", async () => {
    using laptop = startTarget();
    using ci = startTarget();
    const bucket = await relay.createBucket("agent-served");
    for (const [name, destination, by] of [
      ["laptop", laptop.url("/hook"), "agent"],
      ["ci", ci.url("/ci"), "hookstream"],
    ])
      expect(
        (
          await relay.api("POST", "/v1/buckets/agent-served/outputs", {
            name,
            destination,
            delivered_by: by,
          })
        ).status,
      ).toBe(201);
    await using child = agent("agent-served", ["--output", "laptop"]);
    await child.waitForLine(
      /subscribed to buckets: agent-served; forwarding to the destination of output laptop/,
    );
    for (const body of ["one", "two"])
      expect((await relay.post(bucket.inputs[0]?.id as string, body, { query: "q=1" })).status).toBe(200);
    await waitFor(
      () => laptop.received.length === 2 && ci.received.length === 2,
      10_000,
      "both outputs delivered",
    );
    expect(laptop.texts()).toEqual(["one", "two"]);
    expect(laptop.received.map((r) => `${r.url.pathname}${r.url.search}`)).toEqual([
      "/hook?q=1",
      "/hook?q=1",
    ]);
    // The hookstream-delivered output got them from the server, once each, not from the agent as well.
    await child.waitForLine(/POST \/hook\?q=1 200 .*/, "stdout");
    await waitFor(() => child.stdout.length >= 2, 5000, "two delivery lines");
    expect(child.stdout.filter((line) => line.includes("/ci"))).toEqual([]);
    expect(ci.texts().sort()).toEqual(["one", "two"]);
  });

  test("without --output, a bucket with outputs is forwarded once per delivery", async () => {
    using app = startTarget();
    const bucket = await relay.createBucket("two-outputs");
    for (const name of ["a", "b"])
      await relay.api("POST", "/v1/buckets/two-outputs/outputs", {
        name,
        destination: "http://127.0.0.1:9/unused",
        delivered_by: "agent",
      });
    await using child = agent("two-outputs", ["--target", app.url("/")]);
    await child.waitForLine(/subscribed to buckets: two-outputs/);
    await relay.post(bucket.inputs[0]?.id as string, "first");
    await relay.post(bucket.inputs[0]?.id as string, "second");
    await waitFor(() => app.received.length >= 2, 10_000, "delivered");
    await waitFor(() => child.stdout.length >= 2, 5000, "reported");
    expect(app.texts()).toEqual(["first", "second"]);
  });
});

describe("response passthrough", () => {
  test("the sender gets the app's answer, sanitised like a configured response", async () => {
    using app = startTarget(
      () =>
        new Response("created by the app", {
          status: 201,
          headers: {
            "Content-Type": "text/plain",
            "X-App": "yes",
            "Set-Cookie": "session=stolen",
            "Content-Security-Policy": "default-src *",
          },
        }),
    );
    const bucket = await relay.createBucket("answered");
    await setPassthrough(bucket, 5000);
    await using child = agent("answered", ["--target", app.url("/")]);
    await child.waitForLine(/subscribed to buckets: answered/);
    const response = await relay.post(bucket.inputs[0]?.id as string, '{"ping":1}');
    expect(response.status).toBe(201);
    expect(await response.text()).toBe("created by the app");
    expect(response.headers.get("x-app")).toBe("yes");
    expect(response.headers.get("set-cookie")).toBeNull();
    expect(response.headers.get("content-security-policy")).toBe("sandbox");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(app.texts()).toEqual(['{"ping":1}']);
  });

  test("an answer later than the bound leaves the sender with the configured response; the webhook is kept", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    using app = startTarget(async () => {
      await held;
      return new Response("too late", { status: 202 });
    });
    const bucket = await relay.createBucket("late");
    await setPassthrough(bucket, 300);
    await using child = agent("late", ["--target", app.url("/")]);
    await child.waitForLine(/subscribed to buckets: late/);
    const started = performance.now();
    const response = await relay.post(bucket.inputs[0]?.id as string, "slow app");
    const waited = performance.now() - started;
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("configured");
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(5000);
    release();
    await child.waitForLine(/POST \/ 202/, "stdout");
    const bucketId = (await relay.store.findBucket("late"))?.id as string;
    expect(
      (await relay.store.listDeliveries(bucketId, null, 10)).map((d) => new TextDecoder().decode(d.body)),
    ).toEqual(["slow app"]);
  });

  // Bun closes a bodiless request (a GET check) idle for its 10 s default, seen at 12 s (its timer ticks in
  // steps of seconds): an answer at 14 s is past it. A request whose body was read is not timed out.
  test("an answer after Bun's 10 s idle time still reaches a bodiless request when the input waits longer", async () => {
    const bucket = await relay.createBucket("patient");
    await setPassthrough(bucket, 20_000);
    const socket = await relay.subscribed(token, ["patient"]);
    const started = performance.now();
    const pending = relay.post(bucket.inputs[0]?.id as string, null, { method: "GET" });
    const message = JSON.parse(await socket.next()) as { meta: { id: string } };
    // Bun.sleep can wake a fraction of a millisecond early: sleep until 14 s have surely passed.
    while (performance.now() - started < 14_000) await Bun.sleep(14_000 - (performance.now() - started));
    socket.send(
      JSON.stringify({ action: "response", id: message.meta.id, status: 201, body: "late but in time" }),
    );
    const response = await pending;
    expect(response.status).toBe(201);
    expect(await response.text()).toBe("late but in time");
    expect(performance.now() - started).toBeGreaterThanOrEqual(14_000);
    socket.close();
  }, 30_000);

  test("a client that never sends the frame sees the webhook as before, and the sender gets the configured response", async () => {
    const bucket = await relay.createBucket("silent");
    await setPassthrough(bucket, 300);
    const socket = await relay.subscribed(token, ["silent"]);
    const response = await relay.post(bucket.inputs[0]?.id as string, "nobody answers");
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("configured");
    const message = JSON.parse(await socket.next()) as { body: string; passthrough?: { timeout_ms: number } };
    expect(message).toMatchObject({ body: "nobody answers", passthrough: { timeout_ms: 300 } });
    // An answer nobody waits for any more is ignored without a word; a malformed one gets an error status.
    socket.send(JSON.stringify({ action: "response", id: "999999", status: 200 }));
    socket.send(JSON.stringify({ action: "response", id: "1", status: 99 }));
    expect(JSON.parse(await socket.next())).toMatchObject({ type: "status", status: "error" });
    socket.send(JSON.stringify({ action: "pong" }));
    expect(socket.pending()).toBe(0);
    socket.close();
  });

  test("an answer from a token that cannot read the bucket is not taken", async () => {
    const bucket = await relay.createBucket("guarded");
    await relay.createBucket("elsewhere");
    await setPassthrough(bucket, 1500);
    const reader = await relay.subscribed(token, ["guarded"]);
    const outsider = await relay.authenticated(await relay.createToken({ buckets: ["elsewhere"] }));
    const pending = relay.post(bucket.inputs[0]?.id as string, "guarded");
    const message = JSON.parse(await reader.next()) as { meta: { id: string } };
    outsider.send(JSON.stringify({ action: "response", id: message.meta.id, status: 418, body: "forged" }));
    const response = await pending;
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("configured");
    reader.close();
    outsider.close();
  });
});
