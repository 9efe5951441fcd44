/**
 * Access control as a browser meets it: with LOGS_TOKEN set, the page needs a sign-in, the sign-in cookie
 * opens the stream from the page's own origin, and a page on another origin cannot use that cookie to open it.
 */
import { describe, expect, test } from "bun:test";
import { startTestServer } from "../helpers/server.ts";
import { openPage, requireChromium, useBrowser } from "./browser.ts";

const TOKEN = "browser-access-token-0123456789";

/** Opens a WebSocket from the page and reports how it ended: "open", or the close code. */
function tryStream(url: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.onopen = () => {
      socket.close();
      resolve("open");
    };
    socket.onclose = (event) => resolve(`closed ${event.code}`);
  });
}

describe.skipIf(!requireChromium())("log access in a browser", () => {
  const chromium = useBrowser();

  test("sign-in opens the stream from the same origin, and a cross-origin page with the cookie is refused", async () => {
    await using server = await startTestServer({ env: { LOGS_TOKEN: TOKEN } });
    const port = server.server.port as number;
    // Another origin (another port on the same host: same site, so the SameSite cookie does go along, and
    // only the Origin check stands between that page and the stream).
    using elsewhere = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: () =>
        new Response("<!doctype html><title>elsewhere</title>", { headers: { "Content-Type": "text/html" } }),
    });
    const streamUrl = `ws://127.0.0.1:${port}/logs/ws`;

    await using tab = await openPage(chromium.browser, server.httpUrl("/logs"));
    expect(new URL(tab.page.url()).pathname).toBe("/logs/login");
    expect(await tab.page.evaluate(tryStream, streamUrl)).not.toBe("open");

    await tab.page.fill("#token", TOKEN);
    await Promise.all([
      tab.page.waitForURL((url) => url.pathname === "/logs"),
      tab.page.click("button[type=submit]"),
    ]);
    const cookies = await tab.context.cookies();
    expect(cookies.find((c) => c.name === "hookstream_logs")?.httpOnly).toBe(true);
    expect(await tab.page.evaluate(() => document.cookie)).not.toContain("hookstream_logs");
    expect(await tab.page.evaluate(tryStream, streamUrl)).toBe("open");

    const other = await tab.context.newPage();
    await other.goto(`http://127.0.0.1:${elsewhere.port}/`);
    expect(await other.evaluate(tryStream, streamUrl)).not.toBe("open");
    const refused = await fetch(server.httpUrl("/logs/ws"), {
      headers: {
        Upgrade: "websocket",
        Connection: "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        Cookie: `hookstream_logs=${cookies.find((c) => c.name === "hookstream_logs")?.value}`,
        Origin: `http://127.0.0.1:${elsewhere.port}`,
      },
    });
    expect(refused.status).toBe(403);
  }, 30_000);
});
