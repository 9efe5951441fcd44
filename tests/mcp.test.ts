/**
 * `/mcp` with MCP_ENABLED=true: the read-only log APIs as MCP tools with the original log viewer's tool names,
 * called with the SDK's own client over Streamable HTTP, on the processor-written fixture directory.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { fixtureFiles } from "./helpers/gws-replay.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

const HOOK = "2f6d20ce-ee0b-11f1-bbe4-02fc00000001";
const TOKEN = "mcp-test-token-0123456789";
const FILES = fixtureFiles(
  join(import.meta.dir, "fixtures/gws-twins"),
  join(import.meta.dir, "fixtures/gws-flow"),
);

async function connect(server: TestServer, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: "hookstream-test", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(server.httpUrl("/mcp")), { requestInit: { headers } }),
  );
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown>) {
  const result = await client.callTool({ name, arguments: args });
  const [content] = result.content as Array<{ type: string; text: string }>;
  return {
    isError: result.isError === true,
    body: JSON.parse(content?.text ?? "null") as Record<string, unknown>,
  };
}

describe("MCP tools", () => {
  test("the original's tool names, answering what the routes answer", async () => {
    await using server = await startTestServer({ files: FILES, env: { MCP_ENABLED: "true" } });
    const client = await connect(server);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      "export_logs",
      "get_log_entries",
      "get_pr_flow_data",
      "get_step_logs",
      "get_workflow_steps",
    ]);

    const entries = await call(client, "get_log_entries", { hook_id: HOOK, limit: 3, offset: 1 });
    expect(entries.isError).toBe(false);
    expect(entries.body).toMatchObject({
      limit: 3,
      offset: 1,
      filtered_count_min: 4,
      is_partial_scan: false,
    });
    const direct = (await (
      await fetch(server.httpUrl(`/logs/api/entries?hook_id=${HOOK}&limit=3&offset=1`))
    ).json()) as {
      entries: unknown[];
    };
    expect(entries.body.entries).toEqual(direct.entries);

    const exported = await call(client, "export_logs", { level: "ERROR", limit: 2 });
    expect(Object.keys(exported.body).sort()).toEqual(["export_metadata", "log_entries"]);
    expect((exported.body.log_entries as unknown[]).length).toBe(2);

    const flow = await call(client, "get_pr_flow_data", { hook_id: "pr-1194" });
    expect(flow.body.identifier).toBe("pr-1194");

    const steps = await call(client, "get_workflow_steps", { hook_id: HOOK });
    expect(steps.body.step_count).toBe(3);

    // Loopback client: step logs are allowed without LOGS_TOKEN, as for the route itself.
    const logs = await call(client, "get_step_logs", { hook_id: HOOK, step_name: "repo_clone" });
    expect(logs.isError).toBe(false);
    expect(logs.body.log_count).toBe(7);

    const missing = await call(client, "get_workflow_steps", { hook_id: "nope" });
    expect(missing.isError).toBe(true);
    expect(missing.body.detail).toBe("No data found for hook ID: nope");
    await client.close();
  });

  test("behind LOGS_TOKEN: refused without it, answered with it", async () => {
    await using server = await startTestServer({
      files: FILES,
      env: { MCP_ENABLED: "true", LOGS_TOKEN: TOKEN },
    });
    const refused = await fetch(server.httpUrl("/mcp"), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(refused.status).toBe(401);
    await expect(connect(server)).rejects.toThrow();
    const client = await connect(server, { Authorization: `Bearer ${TOKEN}` });
    const steps = await call(client, "get_workflow_steps", { hook_id: HOOK });
    expect(steps.isError).toBe(false);
    expect(steps.body.hook_id).toBe(HOOK);
    await client.close();
  });

  test("off unless MCP_ENABLED=true", async () => {
    await using server = await startTestServer();
    expect((await fetch(server.httpUrl("/mcp"), { method: "POST" })).status).toBe(404);
  });
});
