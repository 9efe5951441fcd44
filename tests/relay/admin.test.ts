/**
 * The admin HTTP API and the CLI, on a real server and its database.
 */
import { describe, expect, test } from "bun:test";
import { relayFixture, runCli } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

describe("first start", () => {
  test("with no admin token the server says how to create one; once one exists it does not", async () => {
    const lines: string[] = [];
    const log = (level: string, message: string) => lines.push(`${level} ${message}`);
    const hint = "info no admin token yet: create the first one with `bun run cli token create --admin`";
    await using server = await startTestServer({ log });
    expect(lines).toContain(hint);
    await using relay = await relayFixture(server);
    expect(relay.admin.key).toBeTruthy();
    lines.length = 0;
    // A second server on the same database (its own temporary directory is unused).
    await using _again = await startTestServer({ log, env: { DATA_DIR: server.dataDir } });
    expect(lines).not.toContain(hint);
  });
});

describe("admin API authentication", () => {
  test("no credentials, wrong credentials and a non-admin token are refused with JSON errors", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const reader = await relay.createToken();

    const none = await relay.api("GET", "/v1/buckets", undefined, null);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect((await none.json()) as object).toHaveProperty("error");

    const wrong = await relay.api("GET", "/v1/tokens", undefined, { key: relay.admin.key, secret: "nope" });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: "invalid key or secret" });

    const notAdmin = await relay.api("POST", "/v1/buckets", { name: "x" }, reader);
    expect(notAdmin.status).toBe(403);
    expect(await notAdmin.json()).toEqual({ error: "this token has no admin scope" });
  });

  test("HTTP Basic with key and secret works as well", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const basic = Buffer.from(`${relay.admin.key}:${relay.admin.secret}`).toString("base64");
    const response = await fetch(server.httpUrl("/v1/buckets"), {
      headers: { Authorization: `Basic ${basic}` },
    });
    expect(response.status).toBe(200);
  });
});

describe("admin API", () => {
  test("buckets: create, list, get by id or name, delete", async () => {
    await using server = await startTestServer({ env: { PUBLIC_URL: "https://hooks.example.com/" } });
    await using relay = await relayFixture(server);
    const created = await relay.createBucket("my-bucket");
    const input = created.inputs[0];
    expect(input?.name).toBe("Default public endpoint");
    expect(input?.url).toBe(`https://hooks.example.com/v1/webhooks/${input?.id}`);

    const list = (await (await relay.api("GET", "/v1/buckets")).json()) as Array<{ name: string }>;
    expect(list.map((b) => b.name)).toEqual(["my-bucket"]);
    for (const ref of [created.id, "my-bucket"])
      expect(((await (await relay.api("GET", `/v1/buckets/${ref}`)).json()) as { id: string }).id).toBe(
        created.id,
      );

    const taken = await relay.api("POST", "/v1/buckets", { name: "my-bucket" });
    expect(taken.status).toBe(409);
    expect(await taken.json()).toEqual({ error: 'a bucket named "my-bucket" already exists', field: "name" });

    expect((await relay.api("DELETE", `/v1/buckets/${created.id}`)).status).toBe(204);
    expect((await relay.api("GET", `/v1/buckets/${created.id}`)).status).toBe(404);
    expect((await relay.post(input?.id ?? "", "{}")).status).toBe(404);
  });

  test("invalid bodies get 400 in the one error shape, naming the field", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const cases: Array<[string, string, unknown, string]> = [
      ["POST", "/v1/buckets", { name: "has space" }, "name"],
      ["POST", "/v1/buckets", { name: "89e44c32-27ff-4832-8655-8a42d3851b6f" }, "name"],
      ["POST", "/v1/buckets", {}, "name"],
      ["POST", "/v1/buckets", { name: "ok", extra: 1 }, "extra"],
      ["POST", "/v1/tokens", { buckets: "a" }, "buckets"],
      ["POST", "/v1/tokens", { buckets: ["missing"] }, "buckets"],
    ];
    for (const [method, path, body, field] of cases) {
      const response = await relay.api(method, path, body);
      expect(response.status).toBe(400);
      const error = (await response.json()) as { error: string; field: string };
      expect(error.field).toBe(field);
      expect(typeof error.error).toBe("string");
    }
    const malformed = await fetch(server.httpUrl("/v1/buckets"), {
      method: "POST",
      headers: {
        Authorization: `Bearer ${relay.admin.key}:${relay.admin.secret}`,
        "Content-Type": "application/json",
      },
      body: "{nope",
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ error: "Malformed JSON in request body" });
  });

  test("inputs: response settings merge, a secret is set and cleared but never shown", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("b");
    const path = `/v1/buckets/b/inputs/${bucket.inputs[0]?.id}`;
    const set = await relay.api("PUT", path, { response: { status: 201 }, github_secret: "hunter2-hunter2" });
    expect(set.status).toBe(200);
    const view = (await set.json()) as {
      response: { status: number; body: string };
      has_github_secret: boolean;
    };
    expect(view.response.status).toBe(201);
    expect(view.response.body).toBe('{"status":"ok"}');
    expect(view.has_github_secret).toBe(true);
    const listed = await (await relay.api("GET", "/v1/buckets")).text();
    expect(listed).not.toContain("hunter2");

    const bodiless = await relay.api("PUT", path, { response: { status: 204 } });
    expect(bodiless.status).toBe(400);
    expect(((await bodiless.json()) as { field: string }).field).toBe("response.body");
    expect((await relay.api("PUT", path, { response: { status: 204, body: "" } })).status).toBe(200);
    expect((await relay.post(bucket.inputs[0]?.id ?? "", "x", { headers: {} })).status).toBe(401);

    const cleared = (await (await relay.api("PUT", path, { github_secret: null })).json()) as {
      has_github_secret: boolean;
    };
    expect(cleared.has_github_secret).toBe(false);
    expect((await relay.post(bucket.inputs[0]?.id ?? "", "x")).status).toBe(204);

    const other = await relay.createBucket("other");
    expect(
      (await relay.api("PUT", `/v1/buckets/other/inputs/${bucket.inputs[0]?.id}`, { name: "x" })).status,
    ).toBe(404);
    const added = await relay.api("POST", `/v1/buckets/${other.id}/inputs`, { name: "GitHub" });
    expect(added.status).toBe(201);
    expect(((await added.json()) as { name: string }).name).toBe("GitHub");
  });

  test("tokens: created with a secret shown once, listed without it, revoked once", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("a");
    const response = await relay.api("POST", "/v1/tokens", { buckets: ["a"], description: "ci" });
    expect(response.status).toBe(201);
    const token = (await response.json()) as {
      key: string;
      secret: string;
      buckets: string[];
      admin: boolean;
    };
    expect(token.buckets).toEqual([bucket.id]);
    expect(token.admin).toBe(false);
    const listed = await (await relay.api("GET", "/v1/tokens")).text();
    expect(listed).toContain(token.key);
    expect(listed).not.toContain(token.secret);
    expect((await relay.api("DELETE", `/v1/tokens/${token.key}`)).status).toBe(204);
    expect((await relay.api("DELETE", `/v1/tokens/${token.key}`)).status).toBe(404);
  });
});

describe("CLI", () => {
  test("--json shapes of bucket create and token create, and the commands scripts chain", async () => {
    await using server = await startTestServer({
      env: { PUBLIC_URL: "https://relay.example", RELAY_RECHECK_MS: "50" },
    });
    const env = { DATA_DIR: server.dataDir, PUBLIC_URL: "https://relay.example" };

    const bucket = await runCli(["bucket", "create", "my-bucket", "--json"], env);
    expect(bucket.code).toBe(0);
    const created = JSON.parse(bucket.stdout) as {
      id: string;
      name: string;
      inputs: Array<{ id: string; url: string }>;
    };
    expect(Object.keys(created)).toEqual(["id", "name", "inputs"]);
    expect(created.name).toBe("my-bucket");
    expect(created.inputs).toHaveLength(1);
    expect(Object.keys(created.inputs[0] ?? {})).toEqual(["id", "url"]);
    expect(created.inputs[0]?.url).toBe(`https://relay.example/v1/webhooks/${created.inputs[0]?.id}`);

    const token = await runCli(["token", "create", "--buckets", "my-bucket", "--json"], env);
    expect(token.code).toBe(0);
    const credentials = JSON.parse(token.stdout) as { key: string; secret: string };
    expect(Object.keys(credentials)).toEqual(["key", "secret"]);

    const admin = await runCli(["token", "create", "--admin", "--json"], env);
    const adminToken = JSON.parse(admin.stdout) as { key: string; secret: string };
    // The running server accepts the token the CLI created.
    const buckets = await fetch(server.httpUrl("/v1/buckets"), {
      headers: { Authorization: `Bearer ${adminToken.key}:${adminToken.secret}` },
    });
    expect(buckets.status).toBe(200);

    const inputId = created.inputs[0]?.id ?? "";
    expect(
      (
        await runCli(
          ["input", "set-response", inputId, "--status", "202", "--body", "ok", "--header", "X-A: 1"],
          env,
        )
      ).code,
    ).toBe(0);
    // The server picks up the other process's change within RELAY_RECHECK_MS.
    await waitFor(
      async () =>
        (await fetch(server.httpUrl(`/v1/webhooks/${inputId}`), { method: "POST", body: "x" })).status ===
        202,
      3000,
      "the CLI's response setting in effect",
    );

    expect((await runCli(["input", "set-secret", inputId], env, "from-stdin\n")).code).toBe(0);
    expect((await runCli(["input", "set-secret", inputId, "--clear"], env)).code).toBe(0);

    const list = await runCli(["token", "list", "--json"], env);
    expect(list.stdout).not.toContain(credentials.secret);
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(2);
    expect((await runCli(["token", "revoke", credentials.key], env)).code).toBe(0);
    expect((await runCli(["token", "revoke", credentials.key], env)).code).toBe(1);

    const listed = await runCli(["bucket", "list", "--json"], env);
    expect((JSON.parse(listed.stdout) as Array<{ name: string }>).map((b) => b.name)).toEqual(["my-bucket"]);
    expect((await runCli(["bucket", "delete", "my-bucket"], env)).code).toBe(0);
    expect((await runCli(["bucket", "delete", "my-bucket"], env)).code).toBe(1);
  });

  test("input set-response changes only the options given; the rest of the response stays", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("b");
    const inputId = bucket.inputs[0]?.id as string;
    const env = { DATA_DIR: server.dataDir };
    const status = await runCli(["input", "set-response", inputId, "--status", "201", "--json"], env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).response).toEqual({
      status: 201,
      body: '{"status":"ok"}',
      headers: { "Content-Type": "application/json" },
    });
    const header = await runCli(["input", "set-response", inputId, "--header", "X-A: 1", "--json"], env);
    expect(header.code).toBe(0);
    expect(JSON.parse(header.stdout).response).toEqual({
      status: 201,
      body: '{"status":"ok"}',
      headers: { "X-A": "1" },
    });
  });

  test("bad usage exits 2 with the usage text; refused operations exit 1", async () => {
    await using server = await startTestServer();
    const env = { DATA_DIR: server.dataDir };
    const unknown = await runCli(["bucket", "explode"], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("usage:");
    expect((await runCli(["bucket", "create", "no spaces allowed"], env)).code).toBe(2);
    expect((await runCli(["token", "create", "--buckets", "missing"], env)).code).toBe(1);
    expect((await runCli(["input", "set-response", "nope", "--status", "99"], env)).code).toBe(2);
  });
});
