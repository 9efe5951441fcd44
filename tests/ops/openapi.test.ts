/**
 * /openapi.json against the real server: every route of the documented APIs is in it (and nothing else), and
 * real answers — successes and errors — validate against the schemas it gives for their status.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { z } from "zod";
import { append, textLine } from "../helpers/logs.ts";
import { type RelayFixture, relayFixture } from "../helpers/relay.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

interface Operation {
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
interface Document {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
}

/** The API surface the document covers: the admin, history, export, deliveries and operations routes. */
const DOCUMENTED = /^\/(v1\/(buckets|tokens)|logs\/api\/|health$|livez$|readyz$|metrics$)/;

let server: TestServer;
let relay: RelayFixture;
let document: Document;
beforeAll(async () => {
  server = await startTestServer();
  relay = await relayFixture(server);
  const response = await fetch(server.httpUrl("/openapi.json"));
  expect(response.status).toBe(200);
  document = (await response.json()) as Document;
});
afterAll(async () => {
  await relay[Symbol.asyncDispose]();
  await server[Symbol.asyncDispose]();
});

const openApiPath = (path: string) => path.replace(/:(\w+)/g, "{$1}");

describe("the document lists the routes", () => {
  test("is OpenAPI 3 and names the server's version", () => {
    expect(document.openapi).toMatch(/^3\./);
    expect(document.info.version).toBe("0.1.0");
  });

  test("every route of the documented APIs is in it, and it has no route the server lacks", () => {
    const served = new Set(
      server.app.routes
        .filter((route) => route.method !== "ALL" && DOCUMENTED.test(route.path))
        .map((route) => `${route.method.toLowerCase()} ${openApiPath(route.path)}`),
    );
    const documented = new Set(
      Object.entries(document.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => `${method} ${path}`),
      ),
    );
    expect(served.size).toBeGreaterThanOrEqual(13);
    expect([...documented].sort()).toEqual([...served].sort());
  });
});

/** The schema the document gives for this answer, as a zod validator. */
function responseSchema(method: string, path: string, status: number, type = "application/json") {
  const operation = document.paths[path]?.[method];
  if (operation === undefined) throw new Error(`${method} ${path} is not documented`);
  const response = operation.responses[String(status)];
  if (response === undefined) throw new Error(`${method} ${path} documents no ${status} answer`);
  const schema = response.content?.[type]?.schema;
  if (schema === undefined) throw new Error(`${method} ${path} ${status} has no ${type} schema`);
  return z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
}

/**
 * Calls the real server and checks the answer against the document. A request body is checked too: the
 * document's schema must accept it exactly when the server does (400 means refused).
 */
async function call(method: string, path: string, documented: string, body?: unknown, auth = true) {
  const response = await relay.api(method.toUpperCase(), path, body, auth ? relay.admin : null);
  if (body !== undefined) {
    const requestSchema =
      document.paths[documented]?.[method]?.requestBody?.content["application/json"]?.schema;
    const accepted = z
      .fromJSONSchema(requestSchema as Parameters<typeof z.fromJSONSchema>[0])
      .safeParse(body);
    expect(accepted.success).toBe(response.status !== 400);
  }
  if (response.status === 204) return { status: 204, body: null };
  const answer = (await response.json()) as unknown;
  const result = responseSchema(method, documented, response.status).safeParse(answer);
  if (!result.success)
    throw new Error(
      `${method} ${path} ${response.status}: ${JSON.stringify(answer)} does not match: ${result.error.message}`,
    );
  return { status: response.status, body: answer };
}

describe("real answers match the document", () => {
  test("the admin API's answers, successes and errors", async () => {
    const created = await call("post", "/v1/buckets", "/v1/buckets", {
      name: "docs",
      description: "for the reference",
    });
    expect(created.status).toBe(201);
    const bucket = created.body as { id: string; inputs: Array<{ id: string }> };
    expect((await call("post", "/v1/buckets", "/v1/buckets", { name: "docs" })).status).toBe(409);
    expect((await call("post", "/v1/buckets", "/v1/buckets", { name: "" }, true)).status).toBe(400);
    expect((await call("get", "/v1/buckets", "/v1/buckets")).status).toBe(200);
    expect((await call("get", "/v1/buckets", "/v1/buckets", undefined, false)).status).toBe(401);
    expect((await call("get", "/v1/buckets/docs", "/v1/buckets/{bucket}")).status).toBe(200);
    expect((await call("get", "/v1/buckets/nope", "/v1/buckets/{bucket}")).status).toBe(404);
    const input = await call("post", "/v1/buckets/docs/inputs", "/v1/buckets/{bucket}/inputs", {
      name: "second",
    });
    expect(input.status).toBe(201);
    const inputId = (input.body as { id: string }).id;
    const updated = await call(
      "put",
      `/v1/buckets/docs/inputs/${inputId}`,
      "/v1/buckets/{bucket}/inputs/{inputId}",
      {
        response: { status: 202, body: "queued", headers: { "X-Relay": "hookstream" } },
        github_secret: "s3cret",
      },
    );
    expect(updated.status).toBe(200);
    const token = await call("post", "/v1/tokens", "/v1/tokens", {
      buckets: ["docs"],
      description: "reader",
    });
    expect(token.status).toBe(201);
    expect((await call("get", "/v1/tokens", "/v1/tokens")).status).toBe(200);
    const key = (token.body as { key: string }).key;
    expect((await call("delete", `/v1/tokens/${key}`, "/v1/tokens/{key}")).status).toBe(204);
    expect((await call("delete", `/v1/tokens/${key}`, "/v1/tokens/{key}")).status).toBe(404);
    expect((await relay.post((bucket.inputs[0] as { id: string }).id, '{"zen":"docs"}')).status).toBe(200);

    const deliveries = await fetch(server.httpUrl("/logs/api/deliveries?bucket=docs"));
    const page = (await deliveries.json()) as { deliveries: unknown[] };
    expect(page.deliveries.length).toBe(1);
    expect(responseSchema("get", "/logs/api/deliveries", 200).safeParse(page).success).toBe(true);
    const unknown = await fetch(server.httpUrl("/logs/api/deliveries?bucket=nope"));
    expect(unknown.status).toBe(404);
    expect(responseSchema("get", "/logs/api/deliveries", 404).safeParse(await unknown.json()).success).toBe(
      true,
    );
    expect((await call("delete", "/v1/buckets/docs", "/v1/buckets/{bucket}")).status).toBe(204);
  });

  test("history pages, exported lines and refused queries", async () => {
    append(server, "app.log", textLine({ seq: 1 }) + textLine({ seq: 2, level: "ERROR" }));
    let page: { entries: unknown[] } = { entries: [] };
    await waitFor(
      async () => {
        const response = await fetch(server.httpUrl("/logs/api/entries?limit=10&repository=org/repo"));
        page = (await response.json()) as { entries: unknown[] };
        return page.entries.length === 2;
      },
      5000,
      "two entries in the history",
    );
    const pageSchema = responseSchema("get", "/logs/api/entries", 200);
    expect(pageSchema.safeParse(page).success).toBe(true);
    expect(pageSchema.safeParse({ ...page, complete: "yes" }).success).toBe(false);

    const exported = await (await fetch(server.httpUrl("/logs/api/export?format=ndjson"))).text();
    const lines = exported
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as unknown);
    expect(lines.length).toBe(2);
    const entrySchema = (pageSchema as unknown as z.ZodObject<{ entries: z.ZodArray<z.ZodType> }>).shape
      .entries.element;
    for (const line of lines) expect(entrySchema.safeParse(line).success).toBe(true);

    const refused = await fetch(server.httpUrl("/logs/api/entries?limit=0"));
    expect(refused.status).toBe(400);
    expect(responseSchema("get", "/logs/api/entries", 400).safeParse(await refused.json()).success).toBe(
      true,
    );
  });
});
