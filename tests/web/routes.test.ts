import { describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { buildPage } from "../../src/web/bundle.ts";
import { createWebRoutes } from "../../src/web/page-routes.ts";
import { startTestServer } from "../helpers/server.ts";

const noLog = () => {};

describe("the page bundle", () => {
  test("is built in memory: one HTML page referring to content-hashed assets under /logs/assets/", async () => {
    const bundle = await buildPage();
    const html = new TextDecoder().decode(bundle.html.body);
    const referenced = [...html.matchAll(/(?:src|href)="\/logs\/assets\/([^"]+)"/g)].map((m) => m[1]);
    expect(referenced.length).toBeGreaterThanOrEqual(2);
    for (const name of referenced) {
      expect(name).toMatch(/-[a-z0-9]{8}\.(js|css)$/);
      expect(bundle.assets.has(name as string)).toBe(true);
    }
    // No inline script: the page's policy allows scripts from its own origin only.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  test("the script never hands data to an HTML parser", async () => {
    const bundle = await buildPage();
    for (const [name, file] of bundle.assets) {
      if (!name.endsWith(".js")) continue;
      const code = new TextDecoder().decode(file.body);
      expect(code).not.toMatch(/\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write/);
    }
  });
});

describe("page routes", () => {
  test("/ and /logs serve the page with a strict content security policy and no caching", async () => {
    const routes = createWebRoutes({ log: noLog });
    for (const path of ["/", "/logs"]) {
      const response = await routes.request(path, { headers: { Host: "example.test:5000" } });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/html");
      expect(response.headers.get("cache-control")).toBe("no-cache");
      const policy = response.headers.get("content-security-policy") ?? "";
      expect(policy).toContain("script-src 'self'");
      expect(policy).toContain("connect-src 'self' ws://example.test:5000 wss://example.test:5000");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      expect(await response.text()).toContain("<title>hookstream logs</title>");
    }
  });

  test("a Host header that is not a plain host name stays out of the policy", async () => {
    const routes = createWebRoutes({ log: noLog });
    const response = await routes.request("/logs", { headers: { Host: "evil.test; script-src *" } });
    expect(response.headers.get("content-security-policy")).toContain("connect-src 'self';");
  });

  test("assets are cached for a year, compressed when asked, and revalidate by ETag", async () => {
    const routes = createWebRoutes({ log: noLog });
    const html = await (await routes.request("/logs")).text();
    const script = /src="(\/logs\/assets\/[^"]+\.js)"/.exec(html)?.[1] ?? "";
    const plain = await routes.request(script);
    expect(plain.status).toBe(200);
    expect(plain.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(plain.headers.get("content-type")).toContain("javascript");
    const body = new Uint8Array(await plain.arrayBuffer());
    const zipped = await routes.request(script, { headers: { "Accept-Encoding": "gzip, br" } });
    expect(zipped.headers.get("content-encoding")).toBe("gzip");
    expect(gunzipSync(new Uint8Array(await zipped.arrayBuffer()))).toEqual(Buffer.from(body));
    const etag = plain.headers.get("etag") ?? "";
    expect((await routes.request(script, { headers: { "If-None-Match": etag } })).status).toBe(304);
    expect((await routes.request("/logs/assets/nope-12345678.js")).status).toBe(404);
  });

  test("the bundle is built once and shared by every request", async () => {
    let builds = 0;
    const routes = createWebRoutes({
      log: noLog,
      build: () => {
        builds++;
        return buildPage();
      },
    });
    await Promise.all([routes.request("/logs"), routes.request("/"), routes.request("/logs")]);
    await routes.request("/logs");
    expect(builds).toBe(1);
  });

  test("a failed build answers 500, is logged, and is tried again on the next request", async () => {
    const logged: string[] = [];
    let attempt = 0;
    const routes = createWebRoutes({
      log: (_level, message) => logged.push(message),
      build: () => (++attempt === 1 ? Promise.reject(new Error("syntax error")) : buildPage()),
    });
    const failed = await routes.request("/logs");
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ error: "The log page could not be built; see the server log" });
    expect(logged.join("\n")).toContain("syntax error");
    expect((await routes.request("/logs")).status).toBe(200);
  });

  test("the server mounts the page beside the APIs", async () => {
    await using server = await startTestServer();
    const page = await fetch(server.httpUrl("/logs"));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="log-viewport"');
    expect((await fetch(server.httpUrl("/"))).status).toBe(200);
    expect((await fetch(server.httpUrl("/logs/nothing-here"))).status).toBe(404);
  });
});
