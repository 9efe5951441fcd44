/**
 * `hookstream forward` as a real child process between a real server and a real target (Bun.serve) that
 * checks GitHub signatures with @octokit/webhooks-methods.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sign, verify } from "@octokit/webhooks-methods";
import { ExitCode } from "../../src/clients/exit-codes.ts";
import { type ChildProcess, spawnChild } from "../helpers/child.ts";
import { type CreatedBucket, type Credentials, type RelayFixture, relayFixture } from "../helpers/relay.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type Received, startTarget } from "../helpers/target.ts";
import { waitFor } from "../helpers/ws.ts";

// Real servers and child processes on a shared 2-core machine: more than bun's 5 s default per test.
setDefaultTimeout(20_000);

const SECRET = "It's a Secret to Everybody";

let server: TestServer;
let relay: RelayFixture;
let bucket: CreatedBucket;
let token: Credentials;
let scratch: string;

beforeAll(async () => {
  server = await startTestServer();
  relay = await relayFixture(server);
  bucket = await relay.createBucket("forwarded");
  token = await relay.createToken({ buckets: ["forwarded"] });
  const input = bucket.inputs[0]?.id as string;
  const set = await relay.api("PUT", `/v1/buckets/forwarded/inputs/${input}`, { github_secret: SECRET });
  expect(set.status).toBe(200);
  scratch = mkdtempSync(join(tmpdir(), "hookstream-forward-"));
});

afterAll(async () => {
  await relay[Symbol.asyncDispose]();
  await server[Symbol.asyncDispose]();
  rmSync(scratch, { recursive: true, force: true });
});

const inputId = () => bucket.inputs[0]?.id as string;

function agent(
  target: string,
  extra: string[] = [],
  cursorFile = join(scratch, `${crypto.randomUUID()}.json`),
) {
  return spawnChild(
    ["forward", "--url", server.httpUrl("/"), "--target", target, "--cursor-file", cursorFile, ...extra],
    { RELAY_KEY: token.key, RELAY_SECRET: token.secret, BUCKETS: "forwarded" },
  );
}

async function subscribed(child: ChildProcess, name = "forwarded") {
  await child.waitForLine(new RegExp(`subscribed to buckets: ${name}`), "stderr");
}

/** Posts a delivery signed over its exact bytes, as GitHub does (the input checks the signature). */
async function post(body: Uint8Array | string, headers: Record<string, string> = {}, query = "") {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const response = await relay.post(inputId(), bytes as Uint8Array<ArrayBuffer>, {
    query,
    headers: {
      "Content-Type": "application/json",
      "X-GitHub-Delivery": crypto.randomUUID(),
      "X-Hub-Signature-256": `sha256=${createHmac("sha256", SECRET).update(bytes).digest("hex")}`,
      ...headers,
    },
  });
  expect(response.status).toBe(200);
}

const postSigned = (body: Uint8Array, contentType: string, event: string, query = "") =>
  post(body, { "Content-Type": contentType, "X-GitHub-Event": event }, query);

describe("hookstream forward", () => {
  test("JSON, form-encoded and binary bodies arrive with method, query, headers and bytes intact, and signatures verify", async () => {
    using target = startTarget();
    await using child = agent(target.url("/hook?app=1"), ["--json"]);
    await subscribed(child);

    const json = new TextEncoder().encode(
      JSON.stringify({ action: "opened", text: "naïve ✓", n: 1 }, null, 3),
    );
    const form = new TextEncoder().encode(
      `payload=${encodeURIComponent('{"zen":"Keep it logically awesome."}')}`,
    );
    const binary = new Uint8Array(randomBytes(256 * 1024));
    binary[0] = 0xff; // never valid UTF-8: travels base64-encoded on the socket
    await postSigned(json, "application/json", "pull_request", "x=1&y=%20");
    await postSigned(form, "application/x-www-form-urlencoded", "push");
    await postSigned(binary, "application/octet-stream", "ping");

    await waitFor(() => target.received.length === 3, 10_000, "three deliveries at the target");
    const [first, second, third] = target.received as [Received, Received, Received];
    for (const [received, sent] of [
      [first, json],
      [second, form],
      [third, binary],
    ] as const) {
      expect(received.method).toBe("POST");
      expect(Buffer.from(received.body).equals(Buffer.from(sent))).toBe(true);
      expect(received.headers.get("content-length")).toBe(String(sent.byteLength));
      expect(received.headers.get("connection")).not.toBe("close");
      expect(received.headers.get("host")).toBe(`127.0.0.1:${target.server.port}`);
    }
    // The app checks the signature as Probot/Octokit apps do, over the text it received.
    const signature = (r: Received) => r.headers.get("x-hub-signature-256") as string;
    expect(await verify(SECRET, new TextDecoder().decode(first.body), signature(first))).toBe(true);
    expect(await verify(SECRET, new TextDecoder().decode(second.body), signature(second))).toBe(true);
    // Bytes that are not text: the HMAC over exactly what arrived, compared in constant time.
    const expected = Buffer.from(`sha256=${createHmac("sha256", SECRET).update(third.body).digest("hex")}`);
    expect(timingSafeEqual(expected, Buffer.from(signature(third)))).toBe(true);

    expect(first.url.pathname + first.url.search).toBe("/hook?app=1&x=1&y=%20");
    expect(first.headers.get("x-github-event")).toBe("pull_request");
    expect(first.headers.get("content-type")).toBe("application/json");

    await child.waitForLine(/"status":200.*"event":"ping"/, "stdout");
    const lines = child.stdout.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line.method, line.path, line.status, line.bucket])).toEqual([
      ["POST", "/hook?app=1&x=1&y=%20", 200, "forwarded"],
      ["POST", "/hook?app=1", 200, "forwarded"],
      ["POST", "/hook?app=1", 200, "forwarded"],
    ]);
    expect(typeof lines[0]?.duration_ms).toBe("number");
  }, 20_000);

  test("a 25 MiB JSON body arrives byte for byte and its signature verifies with @octokit/webhooks-methods", async () => {
    using target = startTarget();
    await using child = agent(target.url("/big"));
    await subscribed(child);
    const text = JSON.stringify({ blob: "x".repeat(25 * 1024 * 1024 - 11) });
    expect(text.length).toBe(25 * 1024 * 1024);
    const signature = await sign(SECRET, text);
    const response = await relay.post(inputId(), text, {
      headers: {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": signature,
      },
    });
    expect(response.status).toBe(200);
    await waitFor(() => target.received.length === 1, 20_000, "the large delivery");
    const received = target.received[0] as Received;
    expect(received.body.byteLength).toBe(text.length);
    expect(received.headers.get("content-length")).toBe(String(text.length));
    expect(
      await verify(
        SECRET,
        new TextDecoder().decode(received.body),
        received.headers.get("x-hub-signature-256") as string,
      ),
    ).toBe(true);
    await child.waitForLine(/^\S+ POST \/big 200 \d+ms$/, "stdout");
  }, 60_000);

  test("killed mid-stream and restarted, it gets every delivery to the target once: only the unanswered are sent again", async () => {
    const answered = new Map<string, number>();
    let holding = true;
    const held: Array<() => void> = [];
    using target = startTarget((request) => {
      const id = request.headers.get("x-github-delivery") as string;
      // Held by their place in the store, not by arrival: with four requests in flight the eleventh can
      // arrive before the tenth, and an answered delivery after an unfinished one is sent again.
      if (holding && Number(id.split("-")[1]) >= 10)
        return new Promise<Response>((resolve) =>
          held.push(() => resolve(new Response("late", { status: 503 }))),
        );
      answered.set(id, (answered.get(id) ?? 0) + 1);
      return new Response("ok");
    });
    const cursorFile = join(scratch, "killed.json");
    const first = agent(target.url("/k"), ["--concurrency", "4"], cursorFile);
    await subscribed(first);
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      const id = `kill-${i}-${crypto.randomUUID()}`;
      sent.push(id);
      await post(`{"i":${i}}`, { "X-GitHub-Delivery": id });
    }
    // All four slots hold a request the target has not answered: the ten before them are answered and saved.
    await waitFor(() => held.length === 4, 10_000, "four requests held at the target");
    first.kill("SIGKILL");
    expect(await first.exited).not.toBe(0);
    holding = false;
    for (const release of held) release();

    await using second = agent(target.url("/k"), ["--concurrency", "4"], cursorFile);
    await waitFor(() => answered.size === 20, 15_000, "all twenty answered");
    expect([...answered.keys()].sort()).toEqual([...sent].sort());
    expect([...answered.values()].every((count) => count === 1)).toBe(true);
    // Exactly the four held (and never answered) requests were sent twice.
    expect(target.received.length).toBe(24);
    await waitFor(() => second.stdout.length === 10, 5000, "ten delivery lines from the restarted agent");
  }, 40_000);

  test("a target that is down is retried with backoff and gets the delivery once it is up", async () => {
    const probe = startTarget();
    const port = probe.server.port as number;
    probe.server.stop(true);
    await using child = agent(`http://127.0.0.1:${port}/late`, ["--max-attempts", "30"]);
    await subscribed(child);
    await post('{"late":true}');
    await child.waitForLine(/retrying delivery \d+ .* attempt 3/, "stderr");
    using target = startTarget(() => new Response("ok"), port);
    await waitFor(() => target.received.length === 1, 15_000, "the delivery after the target came up");
    expect(new TextDecoder().decode(target.received[0]?.body)).toBe('{"late":true}');
    await child.waitForLine(/POST \/late 200/, "stdout");
  }, 30_000);

  test("a target answering 5xx is tried the allowed number of times, and the agent says it gave up", async () => {
    using target = startTarget(() => new Response("down", { status: 503 }));
    await using child = agent(target.url("/broken"), ["--max-attempts", "2"]);
    await subscribed(child);
    await post("{}");
    const line = await child.waitForLine(/gave up/, "stdout");
    expect(line).toMatch(/POST \/broken gave up after 2 attempts: HTTP 503 \(delivery \d+\)/);
    expect(target.received.length).toBe(2);
  });

  test("4xx is the app's answer: reported once, never retried", async () => {
    using target = startTarget(() => new Response("no", { status: 422 }));
    await using child = agent(target.url("/strict"));
    await subscribed(child);
    await post("{}");
    await child.waitForLine(/POST \/strict 422/, "stdout");
    expect(target.received.length).toBe(1);
  });

  test("--events forwards only the named X-GitHub-Event values", async () => {
    using target = startTarget();
    await using child = agent(target.url("/only"), ["--events", "issues"]);
    await subscribed(child);
    for (const event of ["push", "issues", "pull_request", "issues"])
      await post(JSON.stringify({ event }), { "X-GitHub-Event": event });
    await waitFor(() => child.stdout.length === 2, 10_000, "two deliveries printed");
    expect(target.received.map((r) => r.headers.get("x-github-event"))).toEqual(["issues", "issues"]);
  });

  test("--ordered keeps a bucket's deliveries in order even when the target answers out of order", async () => {
    const order: number[] = [];
    using target = startTarget(async (request) => {
      const n = Number(new TextDecoder().decode(request.body));
      await Bun.sleep(n % 2 === 0 ? 30 : 0); // even ones are slower: unordered they would be overtaken
      order.push(n);
      return new Response("ok");
    });
    await using child = agent(target.url("/ordered"), ["--ordered", "--concurrency", "8"]);
    await subscribed(child);
    for (let n = 0; n < 8; n++) await post(String(n));
    await waitFor(() => order.length === 8, 10_000, "eight in order");
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  const exits: Array<[string, () => ChildProcess, number, RegExp]> = [
    [
      "wrong credentials end it with exit code 3",
      () =>
        spawnChild(["forward", "--url", server.httpUrl("/"), "-t", "http://127.0.0.1:9/"], {
          RELAY_KEY: "nope",
          RELAY_SECRET: "nope",
        }),
      ExitCode.UNAUTHORIZED,
      /unauthorized/,
    ],
    [
      "an unknown bucket ends it with exit code 4",
      () =>
        spawnChild(
          ["forward", "--url", server.httpUrl("/"), "-t", "http://127.0.0.1:9/", "--buckets", "missing"],
          { RELAY_KEY: token.key, RELAY_SECRET: token.secret },
        ),
      ExitCode.REFUSED,
      /cannot subscribe/,
    ],
    [
      "bad usage ends it with exit code 2 and the usage text",
      () => spawnChild(["forward"], { RELAY_KEY: "k", RELAY_SECRET: "s" }),
      ExitCode.USAGE,
      /usage: hookstream forward/,
    ],
  ];
  for (const [name, start, code, message] of exits)
    test(name, async () => {
      await using child = start();
      expect(await child.exited).toBe(code);
      expect(child.stderr.join("\n")).toMatch(message);
    });

  test("SIGTERM stops it with exit code 0", async () => {
    await using child = agent("http://127.0.0.1:9/");
    await subscribed(child);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(ExitCode.OK);
  });
});

test("a connection dropped by a server restart is resumed from the saved cursor: nothing missed, nothing repeated", async () => {
  const first = await startTestServer({ keepDataDir: true });
  const port = first.server.port as number;
  const fixture = await relayFixture(first);
  const own = await fixture.createBucket("restarted");
  const reader = await fixture.createToken({ buckets: ["restarted"] });
  using target = startTarget();
  await using child = spawnChild(
    [
      "forward",
      "--url",
      first.httpUrl("/"),
      "--target",
      target.url("/r"),
      "--cursor-file",
      join(scratch, "restart.json"),
      // In store order, so the order received is checked too (by default up to 8 requests run at once).
      "--ordered",
    ],
    { RELAY_KEY: reader.key, RELAY_SECRET: reader.secret, BUCKETS: "restarted" },
  );
  await subscribed(child, "restarted");
  const input = own.inputs[0]?.id as string;
  const send = async (n: number) => expect((await fixture.post(input, String(n))).status).toBe(200);
  await send(1);
  await waitFor(() => target.received.length === 1, 5000, "the first delivery");
  await first.shutdown();
  await child.waitForLine(/connection closed \(1001/, "stderr");
  await using second = await startTestServer({ dataDir: first.dataDir, env: { PORT: String(port) } });
  for (let n = 2; n <= 4; n++) await send(n);
  await waitFor(() => target.received.length === 4, 10_000, "the deliveries made around the restart");
  expect(target.received.map((r) => new TextDecoder().decode(r.body))).toEqual(["1", "2", "3", "4"]);
  await fixture[Symbol.asyncDispose]();
  expect(second.server.port).toBe(port);
}, 20_000);

test("past --max-held it stops reading and resumes from its cursor: a backlog arrives once each, in order", async () => {
  await using server2 = await startTestServer();
  await using fixture = await relayFixture(server2);
  const own = await fixture.createBucket("backlog");
  const reader = await fixture.createToken({ buckets: ["backlog"] });
  // A slow app: the agent's 4-delivery hold fills long before it has sent the backlog.
  using target = startTarget(async () => {
    await Bun.sleep(15);
    return new Response("ok");
  });
  await using child = spawnChild(
    [
      "forward",
      "--url",
      server2.httpUrl("/"),
      "--target",
      target.url("/b"),
      "--cursor-file",
      join(scratch, "backlog.json"),
      "--max-held",
      "4",
      "--concurrency",
      "1",
    ],
    { RELAY_KEY: reader.key, RELAY_SECRET: reader.secret, BUCKETS: "backlog" },
  );
  await subscribed(child, "backlog");
  const input = own.inputs[0]?.id as string;
  for (let n = 0; n < 30; n++) expect((await fixture.post(input, String(n))).status).toBe(200);
  await waitFor(() => target.received.length >= 30, 15_000, "the whole backlog");
  await waitFor(() => child.stdout.length === 30, 5000, "thirty delivery lines");
  expect(target.texts()).toEqual(Array.from({ length: 30 }, (_, n) => String(n)));
  // It really stopped reading and came back for the rest.
  expect(child.stderr.filter((line) => /subscribed to buckets: backlog/.test(line)).length).toBeGreaterThan(
    1,
  );
}, 30_000);

test("a first run killed before any delivery resumes from the position it started at: nothing missed", async () => {
  using target = startTarget();
  const cursorFile = join(scratch, "first-run.json");
  const first = agent(target.url("/first"), [], cursorFile);
  await subscribed(first);
  first.kill("SIGKILL");
  await first.exited;
  await post('{"while":"down"}');
  await using second = agent(target.url("/first"), [], cursorFile);
  await waitFor(() => target.received.length === 1, 10_000, "the delivery made while no agent ran");
  expect(target.texts()).toEqual(['{"while":"down"}']);
  await second.waitForLine(/POST \/first 200/, "stdout");
});
