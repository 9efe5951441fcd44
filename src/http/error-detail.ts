/**
 * The original log viewer's clients read an error's text from `detail` (FastAPI's error shape); hookstream's
 * read `error` (and `field`). For its APIs every JSON error answer carries both: this adds `detail` (the
 * `error` text) to any that lacks it — validation, not found, access, and faults alike.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../transport/upgrade.ts";

export const addErrorDetail: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  if (c.res.status < 400 || !(c.res.headers.get("content-type") ?? "").includes("application/json")) return;
  const body: unknown = await c.res.clone().json();
  if (typeof body !== "object" || body === null || Array.isArray(body)) return;
  const fields = body as Record<string, unknown>;
  if (typeof fields.error !== "string" || "detail" in fields) return;
  const headers = new Headers(c.res.headers);
  headers.delete("content-length");
  c.res = new Response(JSON.stringify({ ...fields, detail: fields.error }), {
    status: c.res.status,
    headers,
  });
};
