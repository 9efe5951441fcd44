/**
 * The page across failures and beyond the stream: a server restart while the page is open, retention
 * passing while it is away, history from the API meeting the backfill, search, and the webhook tab.
 */
import { describe, expect, test } from "bun:test";
import { append } from "../helpers/logs.ts";
import { relayFixture } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";
import {
  countText,
  openPage,
  requireChromium,
  shownMessages,
  useBrowser,
  waitForCount,
  waitForEntriesSeen,
  waitForMessage,
  waitForState,
} from "./browser.ts";
import { timedLine, timedLines } from "./lines.ts";

const TEST_MS = 20_000;

describe.skipIf(!requireChromium())("log page resilience", () => {
  const chromium = useBrowser();

  test(
    "a server restart loses nothing: the page reconnects with its cursor and gets what was written meanwhile",
    async () => {
      const first = await startTestServer({ keepDataDir: true });
      const port = first.server.port;
      let second: Awaited<ReturnType<typeof startTestServer>> | null = null;
      try {
        append(first, "app.log", timedLines(0, 3));
        await waitForEntriesSeen(first.httpUrl, 3);
        await using tab = await openPage(chromium.browser, first.httpUrl("/logs"));
        const sockets: string[] = [];
        tab.page.on("websocket", (socket) => sockets.push(new URL(socket.url()).search));
        await waitForCount(tab.page, 3);
        await waitForState(tab.page, "live");

        await first.shutdown();
        await waitForState(tab.page, "reconnecting");
        expect(await tab.page.locator("#connection-text").textContent()).toContain("Server shutdown");
        append(first, "app.log", timedLines(3, 6, { message: undefined }));

        second = await startTestServer({ dataDir: first.dataDir, env: { PORT: String(port) } });
        await waitForCount(tab.page, 6, 12_000);
        await waitForState(tab.page, "live");
        expect(await shownMessages(tab.page)).toEqual(["msg 0", "msg 1", "msg 2", "msg 3", "msg 4", "msg 5"]);
        expect(sockets.at(-1)).toMatch(/^\?cursor=[^&]+$/);

        append(second, "app.log", timedLine(6));
        await waitForCount(tab.page, 7);
        expect(
          tab.errors.filter((e) => !e.includes("WebSocket") && !e.includes("ERR_CONNECTION_REFUSED")),
        ).toEqual([]);
      } finally {
        await first.shutdown();
        await second?.[Symbol.asyncDispose]();
      }
    },
    TEST_MS,
  );

  test(
    "when retention passed while the page was away, it says entries were missed",
    async () => {
      const env = { JOURNAL_MAX_BYTES: String(1024 * 1024), JOURNAL_SEGMENT_BYTES: String(64 * 1024) };
      const first = await startTestServer({ keepDataDir: true, env });
      const port = first.server.port;
      let second: Awaited<ReturnType<typeof startTestServer>> | null = null;
      try {
        append(first, "app.log", timedLines(0, 2));
        await waitForEntriesSeen(first.httpUrl, 2);
        await using tab = await openPage(chromium.browser, first.httpUrl("/logs"));
        await waitForCount(tab.page, 2);
        await first.shutdown();
        await waitForState(tab.page, "reconnecting");
        // About 3 MB of journal: the page's position is deleted by retention before it comes back.
        append(first, "app.log", timedLines(2, 9_000));
        second = await startTestServer({ dataDir: first.dataDir, env: { ...env, PORT: String(port) } });
        await waitForEntriesSeen(second.httpUrl, 8_998, 12_000);
        const notice = tab.page.locator("#notices .notice.warning");
        await notice.waitFor({ timeout: 12_000 });
        expect(await notice.textContent()).toContain("Some entries were missed");
        await waitForMessage(tab.page, "msg 8999".slice(0, 7));
        await waitForState(tab.page, "live");
      } finally {
        await first.shutdown();
        await second?.[Symbol.asyncDispose]();
      }
    },
    TEST_MS,
  );

  test(
    "Load older pages back through history and meets the backfill without repeating an entry",
    async () => {
      // Lines in the file before start-up are not in the journal; lines appended after are. The page opens
      // on the newest 500 of both (the backfill reaches into the file), and pages back through the rest.
      await using server = await startTestServer({ files: { "app.log": timedLines(0, 1300) } });
      append(server, "app.log", timedLines(1300, 1310));
      await waitForEntriesSeen(server.httpUrl, 10);
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs"));
      await waitForCount(tab.page, 500);
      await waitForState(tab.page, "live");
      const requests: string[] = [];
      tab.page.on("request", (request) => {
        if (request.url().includes("/logs/api/entries")) requests.push(new URL(request.url()).search);
      });

      await tab.page.click("#load-older");
      // The first page ends at the oldest shown entry (msg 810), which it repeats: 499 are new.
      await waitForCount(tab.page, 999);
      // Scrolling up to the oldest shown entry loads the next page by itself.
      await tab.page.mouse.move(700, 600);
      for (let i = 0; i < 30 && !(await countText(tab.page)).startsWith("1,310 "); i++) {
        await tab.page.mouse.wheel(0, -5_000);
        await tab.page.waitForTimeout(50);
      }
      await waitForCount(tab.page, 1310);
      await tab.page.waitForFunction(
        () => document.getElementById("load-older")?.textContent === "No older entries",
      );
      expect(requests[0]).toBe(
        `?end_time=${encodeURIComponent("2026-11-23T10:00:08.100000+00:00")}&limit=500`,
      );
      expect(requests[1]).toMatch(/&cursor=/);

      await tab.page.click("#jump");
      expect((await shownMessages(tab.page)).at(-1)).toBe("msg 1309");
      await tab.page.focus("#log-viewport");
      await tab.page.keyboard.press("Home");
      await tab.page.waitForFunction(
        () => document.querySelector("article.row:focus .c-msg")?.textContent === "msg 0",
      );
      const shown = await shownMessages(tab.page);
      expect(shown.slice(0, 5)).toEqual(["msg 0", "msg 1", "msg 2", "msg 3", "msg 4"]);
      expect(new Set(shown).size).toBe(shown.length);
    },
    TEST_MS,
  );

  test(
    "a search shows matching history and filters live entries on the page",
    async () => {
      const history = timedLines(0, 300).replace(/msg (\d*7)\n/g, "needle $1\n");
      await using server = await startTestServer({ files: { "app.log": history } });
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs?search=NEEDLE"));
      await waitForCount(tab.page, 30);
      expect(await tab.page.inputValue("#f-search")).toBe("NEEDLE");
      expect((await shownMessages(tab.page)).every((m) => m.startsWith("needle"))).toBe(true);
      await waitForState(tab.page, "live");

      append(server, "app.log", timedLine(300, { message: "no match here" }));
      append(server, "app.log", timedLine(301, { message: "a needle live" }));
      await waitForMessage(tab.page, "a needle live");
      await waitForCount(tab.page, 31);
      expect(await shownMessages(tab.page)).not.toContain("no match here");
    },
    TEST_MS,
  );

  test(
    "with LOGS_TOKEN: sign in, stream, and back to the sign-in form when the session is gone",
    async () => {
      const env = { LOGS_TOKEN: "a-long-enough-test-token" };
      const first = await startTestServer({ keepDataDir: true, env });
      const port = first.server.port;
      let second: Awaited<ReturnType<typeof startTestServer>> | null = null;
      try {
        append(first, "app.log", timedLines(0, 2));
        await waitForEntriesSeen(first.httpUrl, 2);
        await using tab = await openPage(chromium.browser, first.httpUrl("/logs"));
        expect(new URL(tab.page.url()).pathname).toBe("/logs/login");
        await tab.page.fill("#token", env.LOGS_TOKEN);
        await tab.page.click("button[type=submit]");
        await tab.page.waitForURL((url) => url.pathname === "/logs");
        await waitForCount(tab.page, 2);
        await tab.page.fill("#f-repository", "org/repo");
        await tab.page.press("#f-repository", "Enter");
        await waitForState(tab.page, "live");
        await waitForCount(tab.page, 2);

        // The session ends (cookie gone) while the connection is down: the reconnect is refused with 401.
        await tab.context.clearCookies();
        await first.shutdown();
        second = await startTestServer({ dataDir: first.dataDir, env: { ...env, PORT: String(port) } });
        await tab.page.waitForURL((url) => url.pathname === "/logs/login", { timeout: 10_000 });
        expect(new URL(tab.page.url()).searchParams.get("next")).toBe("/logs?repository=org%2Frepo");
      } finally {
        await first.shutdown();
        await second?.[Symbol.asyncDispose]();
      }
    },
    TEST_MS,
  );

  test(
    "the webhook tab lists a real delivery with its body shown as text",
    async () => {
      await using server = await startTestServer();
      await using relay = await relayFixture(server);
      const bucket = await relay.createBucket("github");
      const body = '{"note": "<img src=x onerror=alert(1)>"}';
      expect(
        (await relay.post(bucket.inputs[0]?.id as string, body, { headers: { "X-GitHub-Event": "push" } }))
          .status,
      ).toBe(200);
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs"));
      let dialogs = 0;
      tab.page.on("dialog", (dialog) => {
        dialogs++;
        void dialog.dismiss();
      });
      await tab.page.click("#tab-webhooks");
      expect(await tab.page.isVisible("#webhooks-panel")).toBe(true);
      expect(await tab.page.isVisible("#logs-panel")).toBe(false);
      await tab.page.waitForFunction(() =>
        /1 recent delivery/.test(document.getElementById("deliveries-status")?.textContent ?? ""),
      );
      await tab.page.waitForFunction(() =>
        (document.getElementById("delivery-detail")?.textContent ?? "").includes("onerror=alert(1)"),
      );
      expect(await tab.page.locator("#delivery-detail img").count()).toBe(0);
      expect(await tab.page.locator("#delivery-detail table.headers").textContent()).toContain(
        "X-Github-Event",
      );

      // Another bucket, chosen in the select (the list refreshes every few seconds, or on Refresh).
      const stripe = await relay.createBucket("stripe");
      for (const n of [1, 2])
        await relay.post(stripe.inputs[0]?.id as string, `{"n":${n}}`, { query: `attempt=${n}` });
      await tab.page.click("#deliveries-refresh");
      await tab.page.waitForSelector('#bucket option[value="stripe"]', { state: "attached" });
      await tab.page.selectOption("#bucket", "stripe");
      await tab.page.waitForFunction(() =>
        /2 recent deliveries/.test(document.getElementById("deliveries-status")?.textContent ?? ""),
      );
      // Newest first, and the newest is shown.
      expect(await tab.page.locator("#delivery-detail pre.body").textContent()).toBe('{\n  "n": 2\n}');
      expect(await tab.page.locator("#delivery-detail").textContent()).toContain("attempt=2");
      expect(dialogs).toBe(0);
      expect(new URL(tab.page.url()).hash).toBe("#webhooks");
      await tab.page.focus("#tab-webhooks");
      await tab.page.keyboard.press("ArrowLeft");
      expect(await tab.page.isVisible("#logs-panel")).toBe(true);
    },
    TEST_MS,
  );

  test(
    "the webhook tab shows each delivery's headers and body as text (deliveries answer stubbed in the browser)",
    async () => {
      await using server = await startTestServer();
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs#webhooks"));
      const requested: string[] = [];
      const delivery = (id: string, body: string, extra: Record<string, unknown> = {}) => ({
        id,
        bucket_id: "b-1",
        bucket_name: "github",
        input_id: "in-1",
        method: "POST",
        query: "a=1",
        headers: {
          "Content-Type": ["application/json"],
          "X-Github-Event": ["<img src=x onerror=alert(1)>"],
        },
        body,
        received_at: `2026-11-23T10:00:0${id.slice(-1)}Z`,
        source_ip: "203.0.113.9",
        ...extra,
      });
      await tab.page.route("**/logs/api/deliveries?*", async (route) => {
        requested.push(new URL(route.request().url()).search);
        if (requested.at(-1)?.includes("bucket=stripe")) {
          await route.fulfill({
            status: 404,
            contentType: "application/json",
            body: JSON.stringify({ error: 'Unknown bucket "stripe"', field: "bucket" }),
          });
          return;
        }
        await route.fulfill({
          contentType: "application/json",
          body: JSON.stringify({
            buckets: [
              { id: "b-1", name: "github" },
              { id: "b-2", name: "stripe" },
            ],
            deliveries: [
              delivery("d-2", '{"zen":"<script>alert(2)</script>","n":1}', {
                input_name: "from GitHub",
                body_truncated: true,
                body_bytes: 300_000,
              }),
              delivery("d-1", Buffer.from([0xff, 0x00, 0x10]).toString("base64"), {
                body_encoding: "base64",
              }),
            ],
          }),
        });
      });
      await tab.page.reload();
      await tab.page.waitForSelector("#deliveries-list button.delivery");
      expect(await tab.page.locator("#deliveries-list button.delivery").count()).toBe(2);
      const detail = tab.page.locator("#delivery-detail");
      expect(await detail.locator("pre.body").textContent()).toBe(
        '{\n  "zen": "<script>alert(2)</script>",\n  "n": 1\n}',
      );
      expect(await detail.locator("table.headers").textContent()).toContain("<img src=x onerror=alert(1)>");
      expect(await detail.locator("img, script").count()).toBe(0);
      expect(await detail.textContent()).toContain("from GitHub (in-1)");
      expect(await detail.textContent()).toContain("the server sent a preview: 300,000 bytes were received");
      expect(await tab.page.inputValue("#bucket")).toBe("github");

      await tab.page.locator("#deliveries-list button.delivery").nth(1).click();
      await tab.page.waitForFunction(() =>
        document.getElementById("delivery-detail")?.textContent?.includes("binary body, 3 bytes"),
      );
      expect(await tab.page.getAttribute("#deliveries-list button.delivery >> nth=1", "aria-current")).toBe(
        "true",
      );

      await tab.page.selectOption("#bucket", "stripe");
      await waitFor(
        () => requested.at(-1) === "?limit=50&bucket=stripe",
        5_000,
        "a request for the stripe bucket",
      );
      await tab.page.waitForFunction(() =>
        document.getElementById("deliveries-status")?.textContent?.includes('Unknown bucket "stripe"'),
      );
      expect(requested[0]).toBe("?limit=50");
      expect(tab.dialogs).toEqual([]);
    },
    TEST_MS,
  );
});
