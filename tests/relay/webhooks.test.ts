/**
 * The public input endpoint end to end: bytes kept exactly, signatures, limits, de-duplication, the log entry,
 * and fan-out to many subscribers.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openSqliteStore } from "../../src/relay/sqlite-store.ts";
import { bodyBytes, relayFixture, runCli, type WebhookMessage } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { type TestSocket, wsConnect } from "../helpers/ws.ts";

const MIB = 1024 * 1024;
const LIMIT = 26_214_400;

async function oneBucket(env: Record<string, string> = {}) {
  const server = await startTestServer({ env });
  const relay = await relayFixture(server);
  const bucket = await relay.createBucket("hooks");
  const input = bucket.inputs[0];
  if (input === undefined) throw new Error("bucket without input");
  const token = await relay.createToken();
  return {
    server,
    relay,
    bucket,
    input,
    token,
    async [Symbol.asyncDispose]() {
      await relay[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
}

const nextWebhook = async (socket: TestSocket, timeoutMs?: number) =>
  JSON.parse(await socket.next(timeoutMs)) as WebhookMessage;

describe("webhook bodies arrive byte for byte", () => {
  test("JSON with odd spacing, unicode and a byte-order mark is relayed as the same string", async () => {
    await using t = await oneBucket();
    const socket = await t.relay.subscribed(t.token, ["hooks"]);
    const body = '\uFEFF{ "a" :1,\n\t"b":[ 1 ,2 ] , "é": "✓ 🚀" }  ';
    expect(
      (await t.relay.post(t.input.id, body, { headers: { "Content-Type": "application/json" } })).status,
    ).toBe(200);
    const message = await nextWebhook(socket);
    expect(message.body).toBe(body);
    expect(message.body_encoding).toBeUndefined();
    expect(bodyBytes(message)).toEqual(new TextEncoder().encode(body));
  });

  test("a binary body is sent base64 with body_encoding, and decodes to the same bytes", async () => {
    await using t = await oneBucket();
    const socket = await t.relay.subscribed(t.token, ["hooks"]);
    const bytes = new Uint8Array(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) % 256;
    const response = await t.relay.post(t.input.id, bytes, {
      headers: { "Content-Type": "application/octet-stream" },
    });
    expect(response.status).toBe(200);
    const message = await nextWebhook(socket);
    expect(message.body_encoding).toBe("base64");
    expect(bodyBytes(message)).toEqual(bytes);
  });

  test("a 5 MB body arrives identical", async () => {
    await using t = await oneBucket();
    const socket = await t.relay.subscribed(t.token, ["hooks"]);
    const body = JSON.stringify({ data: "x".repeat(5 * 1000 * 1000 - 20) });
    expect((await t.relay.post(t.input.id, body)).status).toBe(200);
    const message = await nextWebhook(socket, 10_000);
    expect(message.body.length).toBe(body.length);
    expect(message.body === body).toBe(true);
  });

  test("an empty GET with a query is relayed with its method and raw query", async () => {
    await using t = await oneBucket();
    const socket = await t.relay.subscribed(t.token, ["hooks"]);
    const response = await fetch(
      `${t.input.url.replace("http://localhost", "http://127.0.0.1")}?b=%20x&a=1&a=2`,
    );
    expect(response.status).toBe(200);
    const message = await nextWebhook(socket);
    expect(message).toMatchObject({ method: "GET", query: "b=%20x&a=1&a=2", body: "" });
  });
});

describe("GitHub signatures", () => {
  const SECRET = "It's a Secret to Everybody";
  const BODY = "Hello, World!";
  const GOOD = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

  test("good passes; bad, missing and malformed get 401 and are neither stored nor relayed", async () => {
    await using t = await oneBucket();
    const set = await t.relay.api("PUT", `/v1/buckets/${t.bucket.id}/inputs/${t.input.id}`, {
      github_secret: SECRET,
    });
    expect(set.status).toBe(200);
    const view = (await set.json()) as Record<string, unknown>;
    expect(view.has_github_secret).toBe(true);
    expect(JSON.stringify(view)).not.toContain(SECRET);
    const socket = await t.relay.subscribed(t.token, ["hooks"]);

    for (const signature of [GOOD.replace("757", "758"), null, "sha1=abc", "sha256=zz", GOOD.toUpperCase()]) {
      const headers: Record<string, string> = signature === null ? {} : { "X-Hub-Signature-256": signature };
      const response = await t.relay.post(t.input.id, BODY, { headers });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({
        error: "Missing or invalid X-Hub-Signature-256",
        field: "X-Hub-Signature-256",
      });
    }
    const ok = await t.relay.post(t.input.id, BODY, { headers: { "X-Hub-Signature-256": GOOD } });
    expect(ok.status).toBe(200);
    const message = await nextWebhook(socket);
    expect(message.body).toBe(BODY);
    expect(message.headers["X-Hub-Signature-256"]).toEqual([GOOD]);
    expect(socket.pending()).toBe(0);
    expect(await t.relay.store.listDeliveries(t.bucket.id, null, 100)).toHaveLength(1);
  });
});

describe("limits, answers and de-duplication", () => {
  test("a body of exactly MAX_BODY_BYTES (25 MiB) is accepted; one byte more gets 413", async () => {
    await using t = await oneBucket();
    const socket = await t.relay.subscribed(t.token, ["hooks"]);
    const exact = new Uint8Array(LIMIT).fill(0x61);
    expect((await t.relay.post(t.input.id, exact)).status).toBe(200);
    // One message larger than the socket's backpressure limit still goes out whole.
    expect((await nextWebhook(socket, 15_000)).body.length).toBe(LIMIT);
    const over = await t.relay.post(t.input.id, new Uint8Array(LIMIT + 1).fill(0x61));
    expect(over.status).toBe(413);
    expect(await over.json()).toEqual({ error: `Body larger than ${LIMIT} bytes`, limit: LIMIT });
    const stored = await t.relay.store.listDeliveries(t.bucket.id, null, 10);
    expect(stored.map((d) => d.body.byteLength)).toEqual([LIMIT]);
  });

  test("a chunked body is cut off at the limit with 413", async () => {
    await using t = await oneBucket({ MAX_BODY_BYTES: String(MIB) });
    const chunk = new Uint8Array(64 * 1024).fill(0x62);
    const stream = (chunks: number) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < chunks; i++) controller.enqueue(chunk);
          controller.close();
        },
      });
    expect((await t.relay.post(t.input.id, stream(16))).status).toBe(200);
    expect((await t.relay.post(t.input.id, stream(17))).status).toBe(413);
  });

  test("an unknown input gets 404 JSON", async () => {
    await using t = await oneBucket();
    const response = await t.relay.post(crypto.randomUUID(), "{}");
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "Unknown input", field: "inputId" });
  });

  test("the input's configured response is what the sender gets, also for a redelivery", async () => {
    await using t = await oneBucket();
    const set = await t.relay.api("PUT", `/v1/buckets/hooks/inputs/${t.input.id}`, {
      response: { status: 202, body: "queued", headers: { "X-Relay": "hookstream" } },
    });
    expect(set.status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const response = await t.relay.post(t.input.id, "{}", {
        headers: { "X-GitHub-Delivery": "same-guid" },
      });
      expect(response.status).toBe(202);
      expect(response.headers.get("x-relay")).toBe("hookstream");
      expect(await response.text()).toBe("queued");
    }
  });

  test("a header named __proto__ is stored and relayed like any other header", async () => {
    await using t = await oneBucket();
    const socket = await t.relay.subscribed(t.token, ["hooks"]);
    const response = await t.relay.post(t.input.id, "{}", {
      // Pairs, not an object literal: `{ __proto__: ... }` would set the literal's prototype.
      headers: [
        ["__proto__", "polluted"],
        ["constructor", "also"],
        ["X-After", "kept"],
      ],
    });
    expect(response.status).toBe(200);
    const message = await nextWebhook(socket);
    expect(Object.getOwnPropertyDescriptor(message.headers, "__proto__")?.value).toEqual(["polluted"]);
    expect(message.headers.Constructor).toEqual(["also"]);
    expect(message.headers["X-After"]).toEqual(["kept"]);
    const [stored] = await t.relay.store.listDeliveries(t.bucket.id, null, 1);
    expect(Object.getOwnPropertyDescriptor(stored?.headers, "__proto__")?.value).toEqual(["polluted"]);
  });

  test("a configured response is refused Set-Cookie and other credential or hop-by-hop headers, naming them", async () => {
    await using t = await oneBucket();
    const path = `/v1/buckets/hooks/inputs/${t.input.id}`;
    for (const name of [
      "Set-Cookie",
      "set-cookie",
      "WWW-Authenticate",
      "Connection",
      "Transfer-Encoding",
      "Content-Security-Policy",
      "Service-Worker-Allowed",
    ]) {
      const refused = await t.relay.api("PUT", path, { response: { headers: { [name]: "x=1" } } });
      expect(refused.status).toBe(400);
      const error = (await refused.json()) as { field: string; error: string };
      expect(error.field).toBe(`response.headers.${name}`);
      expect(error.error).toContain("cannot be configured");
    }
    expect((await t.relay.post(t.input.id, "{}")).headers.get("set-cookie")).toBeNull();
    const cli = await runCli(["input", "set-response", t.input.id, "--header", "Set-Cookie: session=1"], {
      DATA_DIR: t.server.dataDir,
    });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain("headers.Set-Cookie: Set-Cookie cannot be configured");
  });

  test("a configured header named __proto__ is refused, not silently dropped", async () => {
    await using t = await oneBucket();
    const refused = await t.relay.api(
      "PUT",
      `/v1/buckets/hooks/inputs/${t.input.id}`,
      JSON.parse('{"response":{"headers":{"__proto__":"x","X-Relay":"kept"}}}'),
    );
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { field: string }).field).toBe("response.headers.__proto__");
    const cli = await runCli(["input", "set-response", t.input.id, "--header", "__proto__: x"], {
      DATA_DIR: t.server.dataDir,
    });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain("__proto__ cannot be configured as a header name");
  });

  test("a configured HTML response is served sandboxed, so no script runs on the page's origin", async () => {
    await using t = await oneBucket();
    const set = await t.relay.api("PUT", `/v1/buckets/hooks/inputs/${t.input.id}`, {
      response: {
        body: "<script>fetch('/logs/api/entries')</script>",
        headers: { "Content-Type": "text/html", "X-Relay": "hookstream" },
      },
    });
    expect(set.status).toBe(200);
    const response = await t.relay.post(t.input.id, "{}");
    expect(response.headers.get("content-type")).toBe("text/html");
    expect(response.headers.get("content-security-policy")).toBe("sandbox");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-relay")).toBe("hookstream");
  });

  test("a Set-Cookie stored in the database before it was refused is not served", async () => {
    await using t = await oneBucket();
    // Written straight into the database, as an older version's API accepted it.
    await t.relay.store.updateInput(t.input.id, {
      response: {
        status: 200,
        body: "<p>hi</p>",
        headers: {
          "Set-Cookie": "hookstream_logs=forged; Path=/",
          "Content-Security-Policy": "default-src *",
        },
      },
    });
    const response = await t.relay.post(t.input.id, "{}");
    expect(response.status).toBe(200);
    expect(response.headers.get("set-cookie")).toBeNull();
    expect(response.headers.get("content-security-policy")).toBe("sandbox");
    expect(await response.text()).toBe("<p>hi</p>");
  });

  test("a duplicate X-GitHub-Delivery is answered again but relayed and stored once", async () => {
    await using t = await oneBucket();
    const socket = await t.relay.subscribed(t.token, ["hooks"]);
    const headers = { "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event": "push" };
    const answers = await Promise.all([
      t.relay.post(t.input.id, "first", { headers }),
      t.relay.post(t.input.id, "second", { headers }),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    expect((await t.relay.post(t.input.id, "third", { headers })).status).toBe(200);
    await t.relay.post(t.input.id, "sentinel");
    const bodies = (await socket.take(2)).map((raw) => (JSON.parse(raw) as WebhookMessage).body);
    expect(bodies[1]).toBe("sentinel");
    expect(["first", "second"]).toContain(bodies[0] as string);
    expect(await t.relay.store.listDeliveries(t.bucket.id, null, 10)).toHaveLength(2);
  });
});

describe("a delivery on /logs/ws", () => {
  test("becomes a log entry with hook id, event, repository, PR number and user", async () => {
    await using t = await oneBucket();
    const logs = await wsConnect(t.server.wsUrl("/logs/ws?event_type=pull_request"));
    const payload = JSON.stringify({
      action: "opened",
      number: 42,
      pull_request: { number: 42 },
      repository: { full_name: "my-org/my-repo" },
      sender: { login: "octocat" },
    });
    await t.relay.post(t.input.id, payload, {
      headers: {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": "guid-1",
      },
    });
    const entry = await logs.nextJson();
    expect(entry).toMatchObject({
      level: "INFO",
      logger_name: "relay",
      hook_id: "guid-1",
      event_type: "pull_request",
      repository: "my-org/my-repo",
      pr_number: 42,
      github_user: "octocat",
      message: `Webhook pull_request received on bucket hooks (${payload.length} bytes)`,
    });
  });

  test("a form-encoded payload is read too; a broken one still logs and still delivers", async () => {
    await using t = await oneBucket();
    const logs = await wsConnect(
      t.server.wsUrl("/logs/ws?logger_name=relay".replace("logger_name=relay", "")),
    );
    const form = `payload=${encodeURIComponent(JSON.stringify({ issue: { number: 7, pull_request: {} }, sender: { login: "hubot" } }))}`;
    const formHeaders = {
      "Content-Type": "application/x-www-form-urlencoded",
      "X-GitHub-Event": "issue_comment",
    };
    expect((await t.relay.post(t.input.id, form, { headers: formHeaders })).status).toBe(200);
    expect(await logs.nextJson()).toMatchObject({
      event_type: "issue_comment",
      pr_number: 7,
      github_user: "hubot",
    });
    const broken = await t.relay.post(t.input.id, "{not json", {
      headers: { "Content-Type": "application/json" },
    });
    expect(broken.status).toBe(200);
    const entry = await logs.nextJson();
    expect(entry).toMatchObject({ event_type: null, repository: null, pr_number: null, github_user: null });
    expect(entry.hook_id).toMatch(/^\d+$/);
  });
});

describe("fan-out and group commit", () => {
  test("200 webhooks to 50 subscribers arrive complete, once each, in order", async () => {
    await using t = await oneBucket();
    const sockets = await Promise.all(
      Array.from({ length: 50 }, () => t.relay.subscribed(t.token, ["hooks"])),
    );
    // Sent 20 at a time so batches hold several deliveries; order is the store's order.
    for (let i = 0; i < 200; i += 20) {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, j) => t.relay.post(t.input.id, String(i + j))),
      );
      expect(answers.every((r) => r.status === 200)).toBe(true);
    }
    const stored = (await t.relay.store.listDeliveries(t.bucket.id, null, 1000)).map((d) => d.id);
    expect(stored).toHaveLength(200);
    for (const socket of sockets) {
      const ids = (await socket.take(200)).map((raw) => (JSON.parse(raw) as WebhookMessage).meta.id);
      expect(ids).toEqual(stored);
      expect(socket.pending()).toBe(0);
    }
    const bodies = new Set(
      (await t.relay.store.listDeliveries(t.bucket.id, null, 1000)).map((d) =>
        new TextDecoder().decode(d.body),
      ),
    );
    expect(bodies.size).toBe(200);
  });

  test("many concurrent POSTs all get 2xx and are stored exactly once", async () => {
    await using t = await oneBucket();
    const count = 2000;
    const answers = await Promise.all(
      Array.from({ length: count }, (_, i) => t.relay.post(t.input.id, JSON.stringify({ n: i }))),
    );
    expect(answers.filter((r) => r.status === 200)).toHaveLength(count);
    const stored = await t.relay.store.listDeliveries(t.bucket.id, null, count + 1);
    expect(stored).toHaveLength(count);
    const numbers = stored.map((d) => (JSON.parse(new TextDecoder().decode(d.body)) as { n: number }).n);
    expect(new Set(numbers).size).toBe(count);
    const ids = stored.map((d) => Number(d.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    // Reopening the database shows the same rows: they were committed, not just queued.
    await t.server.shutdown();
    const reopened = openSqliteStore(join(t.server.dataDir, "hookstream.db"));
    expect(await reopened.listDeliveries(t.bucket.id, null, count + 1)).toHaveLength(count);
    await reopened.close();
  });
});
