/**
 * smee.io's event-stream on hookstream: the real `smee-client` package from npm, run by Node as a child
 * process, forwards what is posted to a channel, and resumes with Last-Event-ID across a server restart.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { smeeEvent } from "../../src/relay/smee-event.ts";
import { spawnChild } from "../helpers/child.ts";
import { relayFixture, repoRoot } from "../helpers/relay.ts";
import { requireTool } from "../helpers/requirements.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type Received, startTarget } from "../helpers/target.ts";
import { waitFor } from "../helpers/ws.ts";

// Real servers and child processes on a shared 2-core machine: more than bun's 5 s default per test.
setDefaultTimeout(20_000);

async function channel(server: TestServer) {
  const relay = await relayFixture(server);
  const bucket = await relay.createBucket("smee");
  const token = await relay.createToken({ buckets: ["smee"] });
  const input = bucket.inputs[0]?.id as string;
  return {
    relay,
    token,
    input,
    path: `/smee/${input}`,
    source: `${server.httpUrl(`/smee/${input}`)}?token=${token.key}:${token.secret}`,
  };
}

const SMEE = ["node", join(repoRoot, "node_modules", "smee-client", "bin", "smee.js")];

describe("smee event-stream", () => {
  const message = (fields: Record<string, unknown>) =>
    JSON.stringify({
      type: "webhook",
      meta: { id: "5", input_id: "in-1" },
      cursor: "0a0b0c0d-5",
      headers: {
        "Content-Type": ["application/json"],
        "X-Github-Event": ["push"],
        Connection: ["keep-alive"],
      },
      query: "a=1&b=x%20y",
      body: '{"n":1}',
      method: "POST",
      ...fields,
    });
  const data = (event: string | null) =>
    JSON.parse((event ?? "").split("\ndata: ")[1] ?? "null") as Record<string, unknown>;

  test("a JSON webhook becomes one message event: lower-case headers, parsed body, query object, cursor as id", () => {
    const event = smeeEvent(message({}), "in-1", 1000);
    expect(event?.startsWith("id: 0a0b0c0d-5\ndata: ")).toBe(true);
    expect(event?.endsWith("\n\n")).toBe(true);
    expect(data(event)).toEqual({
      "content-type": "application/json",
      "x-github-event": "push",
      body: { n: 1 },
      query: { a: "1", b: "x y" },
      timestamp: 1000,
    });
  });

  test("a form-encoded body becomes its fields, as smee.io parses it", () => {
    const event = smeeEvent(
      message({
        headers: { "Content-Type": ["application/x-www-form-urlencoded"] },
        body: "payload=%7B%7D&x=1",
      }),
      "in-1",
      1,
    );
    expect(data(event).body).toEqual({ payload: "{}", x: "1" });
  });

  test("JSON that does not parse is passed on as text", () => {
    expect(data(smeeEvent(message({ body: "{nope" }), "in-1", 1)).body).toBe("{nope");
  });

  test("another input's delivery in the same bucket is not sent", () => {
    expect(smeeEvent(message({}), "in-2", 1)).toBeNull();
  });

  test("statuses become named events smee-client ignores", () => {
    expect(smeeEvent('{"type":"status","status":"live","message":"m"}', "in-1", 1)).toStartWith(
      "event: live\ndata: ",
    );
  });
});

describe("GET /smee/<input-id>", () => {
  test("needs Accept: text/event-stream and a token that may read the bucket", async () => {
    await using server = await startTestServer();
    const { relay, token, path } = await channel(server);
    const other = await relay.createBucket("other");
    const outsider = await relay.createToken({ buckets: ["other"] });
    const stream = { Accept: "text/event-stream" };
    const get = (query: string, headers: Record<string, string> = stream) =>
      fetch(server.httpUrl(`${path}${query}`), { headers });
    expect((await get(`?token=${token.key}:${token.secret}`, {})).status).toBe(406);
    expect((await get("")).status).toBe(401);
    expect((await get(`?token=${token.key}:wrong`)).status).toBe(401);
    expect((await get(`?token=${outsider.key}:${outsider.secret}`)).status).toBe(404);
    expect(
      (await get("", { ...stream, Authorization: `Bearer ${outsider.key}:${outsider.secret}` })).status,
    ).toBe(404);
    const ok = await get(`?token=${token.key}:${token.secret}`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("text/event-stream");
    const reader = (ok.body as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain("event: ready\ndata: {}\n\n");
    await reader.cancel();
    expect(other.name).toBe("other");
    await relay[Symbol.asyncDispose]();
  });
});

test("revoking the token ends its open streams", async () => {
  await using server = await startTestServer();
  const { relay, token, path } = await channel(server);
  const response = await fetch(server.httpUrl(`${path}?token=${token.key}:${token.secret}`), {
    headers: { Accept: "text/event-stream" },
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain("event: ready");
  expect((await relay.api("DELETE", `/v1/tokens/${token.key}`)).status).toBe(204);
  const started = Date.now();
  let done = false;
  while (!done && Date.now() - started < 12_000) done = (await reader.read()).done;
  expect(done).toBe(true);
  await relay[Symbol.asyncDispose]();
}, 15_000);

const hasNode = Bun.which("node") !== null;
if (requireTool("node", hasNode, "apt-get install -y nodejs")) {
  describe("smee-client from npm", () => {
    test("receives what is posted to the channel: method, headers, query and body", async () => {
      await using server = await startTestServer();
      const { relay, source, path } = await channel(server);
      using target = startTarget();
      await using smee = spawnChild(["--url", source, "--target", target.url()], {}, SMEE);
      await smee.waitForLine(/Connected to/);
      const payload = { action: "opened", number: 7, text: "naïve ✓" };
      const posted = await fetch(server.httpUrl(`${path}?from=smee`), {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "X-GitHub-Event": "pull_request",
          "X-GitHub-Delivery": "d-1",
        },
        body: JSON.stringify(payload),
      });
      expect(posted.status).toBe(200);
      const form = await fetch(server.httpUrl(path), {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "X-GitHub-Event": "push" },
        body: `payload=${encodeURIComponent('{"ref":"main"}')}`,
      });
      expect(form.status).toBe(200);
      await waitFor(() => target.received.length === 2, 10_000, "two forwarded by smee-client");
      const json = target.received[0] as Received;
      const [jsonText, encodedText] = target.texts() as [string, string];
      expect(json.method).toBe("POST");
      expect(JSON.parse(jsonText)).toEqual(payload);
      expect(json.headers.get("x-github-event")).toBe("pull_request");
      expect(json.headers.get("x-github-delivery")).toBe("d-1");
      expect(json.url.searchParams.get("from")).toBe("smee");
      // smee-client re-serialises bodies as JSON: form fields arrive as a JSON object.
      expect(JSON.parse(encodedText)).toEqual({ payload: '{"ref":"main"}' });
      await smee.waitForLine(/POST .* - 200/);
      await relay[Symbol.asyncDispose]();
    }, 20_000);

    test("after a server restart it reconnects with Last-Event-ID and gets what was posted meanwhile", async () => {
      const first = await startTestServer({ keepDataDir: true });
      const port = first.server.port as number;
      const { relay, source, input } = await channel(first);
      using target = startTarget();
      await using smee = spawnChild(["--url", source, "--target", target.url()], {}, SMEE);
      await smee.waitForLine(/Connected to/);
      expect(
        (await relay.post(input, '{"n":1}', { headers: { "Content-Type": "application/json" } })).status,
      ).toBe(200);
      await waitFor(() => target.received.length === 1, 10_000, "the first");
      await first.shutdown();
      await using second = await startTestServer({ dataDir: first.dataDir, env: { PORT: String(port) } });
      // Posted before smee-client's EventSource is back (it waits a second): only a resume can bring these.
      for (const n of [2, 3]) {
        const response = await fetch(second.httpUrl(`/smee/${input}`), {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: `{"n":${n}}`,
        });
        expect(response.status).toBe(200);
      }
      await waitFor(() => target.received.length === 3, 15_000, "the two posted during the restart");
      expect(target.texts().map((text) => JSON.parse(text).n)).toEqual([1, 2, 3]);
      await relay[Symbol.asyncDispose]();
    }, 30_000);
  });
}
