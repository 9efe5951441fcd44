/**
 * `/mcp` (opt-in, MCP_ENABLED=true): the read-only log APIs as MCP tools, with the original log viewer's tool
 * names, over the SDK's Streamable HTTP transport, stateless (a server and a transport per request, JSON
 * answers), as the original serves them. A tool call is a request to the same route a browser or script
 * would make, on behalf of the MCP request (its client address and credentials), so every gate applies the
 * same way: LOGS_TOKEN, and trusted networks only for step logs.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { type Context, Hono } from "hono";
import { z } from "zod";
import packageJson from "../../package.json" with { type: "json" };
import type { LogsAccess } from "../http/logs-access.ts";
import type { AppEnv } from "../transport/upgrade.ts";

/** What a tool call runs: a GET of `path` (with query) through the app, on behalf of the MCP request. */
export type Fetcher = (c: Context<AppEnv>, path: string) => Promise<Response>;

export interface McpRoutesDeps {
  access: LogsAccess;
  fetch: Fetcher;
  version: string;
}

const filters = {
  hook_id: z.string().optional().describe("The GitHub delivery id (X-GitHub-Delivery) of a webhook"),
  pr_number: z.number().int().optional().describe("Pull request number"),
  repository: z.string().optional().describe("Repository as the processor logs it"),
  event_type: z.string().optional().describe("GitHub event, e.g. pull_request"),
  github_user: z.string().optional().describe("The API user the processor acted as"),
  level: z.string().optional().describe("DEBUG, INFO, WARNING, ERROR, COMPLETED, …"),
  start_time: z.string().optional().describe("ISO 8601 with a zone: only entries from then on"),
  end_time: z.string().optional().describe("ISO 8601 with a zone: only entries until then"),
  search: z.string().optional().describe("Case-insensitive text in the message"),
};

function query(args: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(args)) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

/** The route's answer as the tool's result: its JSON text, flagged as an error for a non-2xx status. */
async function asResult(response: Response): Promise<CallToolResult> {
  const text = await response.text();
  return { content: [{ type: "text", text }], ...(response.ok ? {} : { isError: true }) };
}

/**
 * The SDK, loaded on the first /mcp request: it is opt-in, and loading it at start-up cost every server about
 * 19 MB of resident memory whether MCP was used or not (measured at peak in the max-rate benchmark).
 */
let sdk: Promise<{
  McpServer: typeof McpServer;
  Transport: typeof import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js").WebStandardStreamableHTTPServerTransport;
}> | null = null;
const loadSdk = () =>
  (sdk ??= Promise.all([
    import("@modelcontextprotocol/sdk/server/mcp.js"),
    import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js"),
  ]).then(([mcp, http]) => ({
    McpServer: mcp.McpServer,
    Transport: http.WebStandardStreamableHTTPServerTransport,
  })));

function buildServer(c: Context<AppEnv>, deps: McpRoutesDeps, Server: typeof McpServer): McpServer {
  const server = new Server({ name: "hookstream-logs", version: deps.version });
  const get = async (path: string) => asResult(await deps.fetch(c, path));
  const segment = encodeURIComponent;
  server.registerTool(
    "get_log_entries",
    {
      description: "Log entries of the webhook processor, newest first, filtered; offset/limit paging.",
      inputSchema: {
        ...filters,
        limit: z.number().int().min(1).max(10_000).optional(),
        offset: z.number().int().min(0).optional(),
      },
      annotations: { readOnlyHint: true },
    },
    (args) => get(`/logs/api/entries${query(args)}`),
  );
  server.registerTool(
    "export_logs",
    {
      description: "The selected log entries as the export document (export_metadata, log_entries).",
      inputSchema: {
        ...filters,
        format_type: z.enum(["json"]).optional(),
        limit: z.number().int().min(1).max(100_000).optional(),
      },
      annotations: { readOnlyHint: true },
    },
    (args) => get(`/logs/api/export${query({ ...args, format_type: "json" })}`),
  );
  server.registerTool(
    "get_pr_flow_data",
    {
      description: "The processing stages of a hook (hook-<id> or an id) or a PR (pr-<n> or a number).",
      inputSchema: { hook_id: z.string().min(1).max(100) },
      annotations: { readOnlyHint: true },
    },
    ({ hook_id }) => get(`/logs/api/pr-flow/${segment(hook_id)}`),
  );
  server.registerTool(
    "get_workflow_steps",
    {
      description: "The workflow steps of a hook, from its webhook summary.",
      inputSchema: { hook_id: z.string().min(1).max(100) },
      annotations: { readOnlyHint: true },
    },
    ({ hook_id }) => get(`/logs/api/workflow-steps/${segment(hook_id)}`),
  );
  server.registerTool(
    "get_step_logs",
    {
      description: "A workflow step of a hook and the hook's log lines within that step's time window.",
      inputSchema: { hook_id: z.string().min(1).max(100), step_name: z.string().min(1).max(100) },
      annotations: { readOnlyHint: true },
    },
    ({ hook_id, step_name }) => get(`/logs/api/step-logs/${segment(hook_id)}/${segment(step_name)}`),
  );
  return server;
}

/** The server's version, as MCP clients are told it. */
export const APP_VERSION: string = packageJson.version;

/**
 * A tool call's request through `app`: a GET from the same client address, with the MCP request's
 * credentials (a `?token=` becomes a Bearer header), so the route's gates see the MCP client.
 */
export function mcpToolRequest(app: Hono<AppEnv>): Fetcher {
  return (c, path) => {
    const headers = new Headers();
    const token = c.req.query("token");
    const authorization =
      c.req.header("authorization") ?? (token === undefined ? undefined : `Bearer ${token}`);
    if (authorization !== undefined) headers.set("authorization", authorization);
    const cookie = c.req.header("cookie");
    if (cookie !== undefined) headers.set("cookie", cookie);
    const env: AppEnv["Bindings"] = {
      upgrade: () => false,
      requestIP: () => c.env?.requestIP?.(c.req.raw) ?? null,
      // The tool's route allows itself time on the MCP request's connection, the one that can go idle.
      timeout: (_request, seconds) => c.env?.timeout?.(c.req.raw, seconds),
    };
    return Promise.resolve(app.fetch(new Request(new URL(path, c.req.url), { headers }), env));
  };
}

export function createMcpRoutes(deps: McpRoutesDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use("/mcp", deps.access.api);
  routes.on(["GET", "POST", "DELETE"], "/mcp", async (c) => {
    const { McpServer: Server, Transport } = await loadSdk();
    const transport = new Transport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const server = buildServer(c, deps, Server);
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw);
    } finally {
      await server.close();
    }
  });
  return routes;
}
