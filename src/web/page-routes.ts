/**
 * The log page over HTTP: `GET /` and `GET /logs` serve the bundled HTML, `GET /logs/assets/<file>` its
 * scripts and styles (content-hashed, cached for a year). The bundle is built on the first request and
 * kept; a failed build is logged and retried on the next request.
 */
import { type Context, Hono } from "hono";
import { errorBody } from "../transport/errors.ts";
import type { AppEnv } from "../transport/upgrade.ts";
import { buildPage, type PageBundle, type PageFile } from "./bundle.ts";

export interface WebRoutesDeps {
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** Builds the page bundle; defaults to bundling src/web/client/logs.html. */
  build?: () => Promise<PageBundle>;
}

/** A Host header we are willing to repeat in the policy below. */
const PLAIN_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * Scripts and styles from this origin only: even if log content ever reached the DOM as markup, no inline
 * script or handler would run. WebSocket origins are listed as well as 'self' for browsers where 'self'
 * does not cover ws:/wss:.
 */
function contentSecurityPolicy(host: string | undefined): string {
  const sockets = host !== undefined && PLAIN_HOST.test(host) ? ` ws://${host} wss://${host}` : "";
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${sockets}`,
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function send(c: Context<AppEnv>, file: PageFile, headers: Record<string, string>): Response {
  if (c.req.header("if-none-match") === file.etag) return c.body(null, 304, { ETag: file.etag, ...headers });
  const gzip = /\bgzip\b/.test(c.req.header("accept-encoding") ?? "");
  return c.body(gzip ? file.gzip : file.body, 200, {
    "Content-Type": file.type,
    ETag: file.etag,
    Vary: "Accept-Encoding",
    "X-Content-Type-Options": "nosniff",
    ...(gzip ? { "Content-Encoding": "gzip" } : {}),
    ...headers,
  });
}

export function createWebRoutes(deps: WebRoutesDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const build = deps.build ?? (() => buildPage());
  let bundle: Promise<PageBundle> | null = null;

  const getBundle = (): Promise<PageBundle | null> => {
    bundle ??= build();
    return bundle.catch((error: unknown) => {
      bundle = null;
      deps.log(
        "error",
        `the log page could not be built: ${error instanceof Error ? error.message : String(error)}`,
      );
      return null;
    });
  };

  const page = async (c: Context<AppEnv>) => {
    const built = await getBundle();
    if (built === null) return c.json(errorBody("The log page could not be built; see the server log"), 500);
    return send(c, built.html, {
      "Cache-Control": "no-cache",
      "Content-Security-Policy": contentSecurityPolicy(c.req.header("host")),
      "Referrer-Policy": "no-referrer",
      "X-Frame-Options": "DENY",
    });
  };

  routes.get("/", page);
  routes.get("/logs", page);
  routes.get("/logs/assets/:name", async (c) => {
    const built = await getBundle();
    const file = built?.assets.get(c.req.param("name"));
    if (file === undefined) return c.json(errorBody("Not found"), 404);
    return send(c, file, { "Cache-Control": "public, max-age=31536000, immutable" });
  });
  return routes;
}
