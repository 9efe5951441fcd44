/**
 * Outputs through the real server: the admin API that manages them, and the socket messages that name them
 * (one per output of the bucket, live and when resuming from a cursor), next to a bucket without outputs
 * whose messages keep empty output fields.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { relayFixture, runCli } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

// The CLI runs as real child processes on a shared machine: more than bun's 5 s default per test.
setDefaultTimeout(20_000);

interface Message {
  type: string;
  cursor: string;
  body: string;
  meta: { id: string; output_name: string; output_destination: string };
}

describe("output management", () => {
  test("outputs are created, listed with their bucket and deleted; bad requests get 400 naming the field", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    await relay.createBucket("shop");
    const bad = [
      [{ name: "ci", destination: "ftp://example.com/x" }, "destination"],
      [{ name: "ci", destination: "not a url" }, "destination"],
      [{ name: "ci", destination: "http://user:pw@example.com/" }, "destination"],
      [{ name: "-ci", destination: "http://example.com/" }, "name"],
      [{ name: "ci", destination: "http://example.com/", delivered_by: "carrier pigeon" }, "delivered_by"],
      [{ name: "ci", destination: "http://example.com/", extra: 1 }, "extra"],
      [{ destination: "http://example.com/" }, "name"],
    ] as const;
    for (const [body, field] of bad) {
      const response = await relay.api("POST", "/v1/buckets/shop/outputs", body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { field: string }).field).toBe(field);
    }
    const created = await relay.api("POST", "/v1/buckets/shop/outputs", {
      name: "ci",
      destination: "https://ci.example.com/hook",
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      name: "ci",
      destination: "https://ci.example.com/hook",
      delivered_by: "hookstream",
    });
    const agent = await relay.api("POST", "/v1/buckets/shop/outputs", {
      name: "laptop",
      destination: "http://localhost:3000/hook",
      delivered_by: "agent",
    });
    expect(agent.status).toBe(201);
    const taken = await relay.api("POST", "/v1/buckets/shop/outputs", {
      name: "ci",
      destination: "https://other.example.com/",
    });
    expect(taken.status).toBe(409);
    expect(((await taken.json()) as { field: string }).field).toBe("name");
    expect(
      (await relay.api("POST", "/v1/buckets/nope/outputs", { name: "x", destination: "http://a.b/" })).status,
    ).toBe(404);
    const listed = (await (await relay.api("GET", "/v1/buckets/shop/outputs")).json()) as Array<{
      name: string;
    }>;
    expect(listed.map((o) => o.name)).toEqual(["ci", "laptop"]);
    const bucket = (await (await relay.api("GET", "/v1/buckets/shop")).json()) as {
      outputs: Array<{ name: string; delivered_by: string }>;
    };
    expect(bucket.outputs.map((o) => [o.name, o.delivered_by])).toEqual([
      ["ci", "hookstream"],
      ["laptop", "agent"],
    ]);
    expect((await relay.api("DELETE", "/v1/buckets/shop/outputs/ci")).status).toBe(204);
    const missing = await relay.api("DELETE", "/v1/buckets/shop/outputs/ci");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { field: string }).field).toBe("output");
    expect((await relay.api("GET", "/v1/buckets/shop/outputs", undefined, null)).status).toBe(401);
  });
});

describe("messages of a bucket with outputs", () => {
  test("one message per output, live and on resume, each naming its output; other buckets unchanged", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const shop = await relay.createBucket("shop");
    const plain = await relay.createBucket("plain");
    for (const [name, destination, by] of [
      ["22", "https://bin.example.com/v1/webhooks/a", "agent"],
      ["111", "https://bin.example.com/v1/webhooks/b", "agent"],
    ])
      expect(
        (
          await relay.api("POST", "/v1/buckets/shop/outputs", {
            name,
            destination,
            delivered_by: by,
          })
        ).status,
      ).toBe(201);
    const token = await relay.createToken();
    const socket = await relay.subscribed(token, ["shop", "plain"]);
    expect((await relay.post(shop.inputs[0]?.id ?? "", '{"hi": "there"}')).status).toBe(200);
    expect((await relay.post(plain.inputs[0]?.id ?? "", "plain")).status).toBe(200);
    const [first, second, third] = (await socket.take(3)).map((m) => JSON.parse(m) as Message);
    expect(first?.meta).toMatchObject({
      output_name: "22",
      output_destination: "https://bin.example.com/v1/webhooks/a",
    });
    expect(second?.meta).toMatchObject({
      output_name: "111",
      output_destination: "https://bin.example.com/v1/webhooks/b",
    });
    expect(second?.meta.id).toBe(first?.meta.id ?? "");
    expect(second?.cursor).toBe(first?.cursor ?? "");
    expect(second?.body).toBe('{"hi": "there"}');
    expect(third).toMatchObject({ body: "plain", meta: { output_name: "", output_destination: "" } });
    // A sentinel: nothing else was sent for these two deliveries.
    expect(socket.pending()).toBe(0);
    socket.close();

    // Resuming before the first delivery sends the same messages from the store.
    const before = (await relay.store.deliveryPosition()).cursors.format(0);
    const resumed = await relay.subscribed(token, ["shop", "plain"], before);
    const replayed = (await resumed.take(3)).map((m) => JSON.parse(m) as Message);
    expect(replayed.map((m) => [m.body, m.meta.output_name])).toEqual([
      ['{"hi": "there"}', "22"],
      ['{"hi": "there"}', "111"],
      ["plain", ""],
    ]);
    expect(JSON.parse(await resumed.next()).status).toBe("live");
    resumed.close();
  });

  test("an output added or deleted reaches the next message at once", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const shop = await relay.createBucket("shop");
    const token = await relay.createToken();
    const socket = await relay.subscribed(token, ["shop"]);
    const input = shop.inputs[0]?.id ?? "";
    await relay.post(input, "before");
    expect((JSON.parse(await socket.next()) as Message).meta.output_name).toBe("");
    await relay.api("POST", "/v1/buckets/shop/outputs", {
      name: "laptop",
      destination: "http://localhost:3000/",
      delivered_by: "agent",
    });
    await relay.post(input, "with");
    expect((JSON.parse(await socket.next()) as Message).meta.output_name).toBe("laptop");
    await relay.api("DELETE", "/v1/buckets/shop/outputs/laptop");
    await relay.post(input, "after");
    expect(JSON.parse(await socket.next()) as Message).toMatchObject({
      body: "after",
      meta: { output_name: "" },
    });
    socket.close();
  });
});

describe("the CLI", () => {
  test("manages outputs and passthrough on the server's database, and the running server follows", async () => {
    await using server = await startTestServer({ env: { RELAY_RECHECK_MS: "50" } });
    await using relay = await relayFixture(server);
    const env = { DATA_DIR: server.dataDir };
    const bucket = await relay.createBucket("shop");
    const token = await relay.createToken();
    const socket = await relay.subscribed(token, ["shop"]);
    const added = await runCli(
      ["output", "add", "shop", "laptop", "http://localhost:3000/hook", "--agent", "--json"],
      env,
    );
    expect(added.code).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ name: "laptop", delivered_by: "agent" });
    const refused = await runCli(["output", "add", "shop", "ci", "file:///etc/passwd"], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("destination");
    expect((await runCli(["output", "add", "shop", "laptop", "http://x.example/"], env)).code).toBe(1);
    expect((await runCli(["output", "add", "nope", "x", "http://x.example/"], env)).code).toBe(1);
    const listed = await runCli(["output", "list", "shop", "--json"], env);
    expect((JSON.parse(listed.stdout) as Array<{ name: string }>).map((o) => o.name)).toEqual(["laptop"]);
    const input = bucket.inputs[0]?.id as string;
    // The server picks the change up within RELAY_RECHECK_MS: probe until a message names the output.
    await waitFor(
      async () => {
        await relay.post(input, "probe");
        return (JSON.parse(await socket.next()) as Message).meta.output_name === "laptop";
      },
      5000,
      "the server names the output",
    );
    const passthrough = await runCli(["input", "set-passthrough", input, "--timeout", "2000", "--json"], env);
    expect(JSON.parse(passthrough.stdout)).toMatchObject({ passthrough: true, passthrough_timeout_ms: 2000 });
    expect((await runCli(["input", "set-passthrough", input, "--timeout", "99999"], env)).code).toBe(2);
    expect((await runCli(["input", "set-passthrough", input, "--off", "--json"], env)).stdout).toContain(
      '"passthrough":false',
    );
    expect((await runCli(["output", "delete", "shop", "laptop"], env)).code).toBe(0);
    expect((await runCli(["output", "delete", "shop", "laptop"], env)).code).toBe(1);
    socket.close();
  });
});
