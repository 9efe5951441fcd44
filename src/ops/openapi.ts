/**
 * `GET /openapi.json`, served from openapi-document.ts, which is loaded on the first request: the generator
 * and the schemas' descriptions are needed by nobody else, and loading them at start-up cost every server
 * memory it may never use.
 */
import { Hono } from "hono";

export const OPENAPI_PATH = "/openapi.json";

export function createOpenApiRoute(version: string): Hono {
  const routes = new Hono();
  let document: (() => Promise<unknown>) | null = null;
  routes.get(OPENAPI_PATH, async (c) => {
    document ??= (await import("./openapi-document.ts")).createOpenApiDocument(version);
    return c.json(await document());
  });
  return routes;
}
