/**
 * The log page in a real Chromium against a real server: backfill, live entries, filters, keyboard,
 * escaping of hostile log content, and the summary detail.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { append, jsonLine } from "../helpers/logs.ts";
import { startTestServer } from "../helpers/server.ts";
import {
  countText,
  openPage,
  requireChromium,
  screenshot,
  shownMessages,
  useBrowser,
  waitForCount,
  waitForEntriesSeen,
  waitForMessage,
  waitForState,
} from "./browser.ts";
import { timedLine, timedLines } from "./lines.ts";

const TEST_MS = 20_000;
/** A webhook_summary record as github-webhook-server writes it, with one failed workflow step. */
const SUMMARY_LINE = `${JSON.stringify({
  hook_id: "test-hook-123",
  event_type: "pull_request",
  action: "opened",
  repository: "org/test-repo",
  sender: "test-user",
  pr: { number: 456, title: "Test PR" },
  timing: {
    started_at: "2025-01-05T10:00:00.000000Z",
    completed_at: "2025-01-05T10:00:05.000000Z",
    duration_ms: 5000,
  },
  workflow_steps: {
    clone_repository: { timestamp: "2025-01-05T10:00:01.000000Z", status: "completed", duration_ms: 1500 },
    apply_labels: {
      timestamp: "2025-01-05T10:00:03.500000Z",
      status: "failed",
      duration_ms: 200,
      error: { type: "ValueError", message: "Label not found" },
    },
  },
  token_spend: 35,
  success: false,
  error: { type: "TestError", message: "Test failure message" },
})}\n`;

const fixture = (name: string) => readFileSync(join(import.meta.dir, "..", "fixtures", "logs", name), "utf8");

describe.skipIf(!requireChromium())("log page", () => {
  const chromium = useBrowser();

  test(
    "shows the backfill, then goes live and shows new entries as they are written",
    async () => {
      await using server = await startTestServer();
      append(server, "app.log", timedLines(0, 20));
      await waitForEntriesSeen(server.httpUrl, 20);
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs"));
      await waitForState(tab.page, "live");
      await waitForCount(tab.page, 20);
      expect(await shownMessages(tab.page)).toEqual(Array.from({ length: 20 }, (_, i) => `msg ${i}`));
      expect(await tab.page.locator("#connection-text").textContent()).toBe("Live");

      append(server, "app.log", timedLine(20, { level: "ERROR", message: "written while watching" }));
      await waitForMessage(tab.page, "written while watching");
      await waitForCount(tab.page, 21);
      const last = tab.page.locator("#log-canvas article.row").filter({ hasText: "written while watching" });
      expect(await last.locator(".badge").textContent()).toBe("ERROR");
      expect(await last.locator(".badge").getAttribute("class")).toContain("lvl-error");
      expect(tab.errors).toEqual([]);
    },
    TEST_MS,
  );

  test(
    "a filter typed in reconnects with it; clicking a repository filters by it",
    async () => {
      await using server = await startTestServer();
      append(server, "app.log", timedLines(0, 6, { repository: "acme/widgets" }));
      append(server, "app.log", timedLines(6, 12, { repository: "acme/gadgets", level: "ERROR" }));
      await waitForEntriesSeen(server.httpUrl, 12);
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs"));
      const sockets: string[] = [];
      tab.page.on("websocket", (socket) => sockets.push(new URL(socket.url()).search));
      await waitForState(tab.page, "live");
      await waitForCount(tab.page, 12);

      await tab.page.fill("#f-repository", "acme/gadgets");
      await waitForCount(tab.page, 6);
      await waitForState(tab.page, "live");
      expect(sockets.at(-1)).toBe("?repository=acme%2Fgadgets&tail=500");
      expect(new URL(tab.page.url()).searchParams.get("repository")).toBe("acme/gadgets");
      expect(await shownMessages(tab.page)).toEqual(["msg 6", "msg 7", "msg 8", "msg 9", "msg 10", "msg 11"]);

      // Live entries are filtered by the server: only the matching one arrives.
      append(server, "app.log", timedLine(12, { repository: "acme/widgets", message: "not for us" }));
      append(server, "app.log", timedLine(13, { repository: "acme/gadgets", message: "for us" }));
      await waitForMessage(tab.page, "for us");
      expect(await shownMessages(tab.page)).not.toContain("not for us");

      await tab.page.click("#clear-filters");
      await waitForCount(tab.page, 14);
      await tab.page.locator("article.row .c-repo", { hasText: "acme/widgets" }).first().click();
      await waitForCount(tab.page, 7);
      expect(await tab.page.inputValue("#f-repository")).toBe("acme/widgets");
      expect(sockets.at(-1)).toBe("?repository=acme%2Fwidgets&tail=500");
      expect(new Set(await tab.page.locator("article.row .c-repo").allInnerTexts())).toEqual(
        new Set(["acme/widgets"]),
      );

      await tab.page.selectOption("#f-level", "ERROR");
      await waitForState(tab.page, "live");
      await tab.page.waitForFunction(() => document.getElementById("empty")?.hidden === false);
      expect(sockets.at(-1)).toBe("?repository=acme%2Fwidgets&level=ERROR&tail=500");
    },
    TEST_MS,
  );

  test(
    "log content is shown as text: markup in a message or a field never runs",
    async () => {
      await using server = await startTestServer();
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs"));
      await waitForState(tab.page, "live");
      const hostile = `<script>alert(1)</script><img src=x onerror="alert(2)"> & "quotes"`;
      append(server, "app.log", timedLine(1, { message: hostile }));
      append(
        server,
        "webhooks_2026-11-23.json",
        `${JSON.stringify({
          type: "log_entry",
          timestamp: "2026-11-23T10:00:01Z",
          level: "<b>INFO</b>",
          logger_name: "<svg onload=alert(3)>",
          message: "field markup",
          hook_id: "<img src=x onerror=alert(4)>",
          repository: '"><script>alert(5)</script>',
          api_user: "javascript:alert(6)",
        })}\n`,
      );
      await waitForCount(tab.page, 2);
      const hostileRow = tab.page.locator("article.row", { hasText: "quotes" });
      expect(await hostileRow.locator(".c-msg").textContent()).toBe(hostile);
      await hostileRow.locator(".c-msg").click();
      await tab.page.waitForSelector("article.row .detail pre.message");
      expect(await tab.page.locator(".detail pre.message").first().textContent()).toBe(hostile);
      const fieldRow = tab.page.locator("article.row", { hasText: "field markup" });
      expect(await fieldRow.locator(".c-hook").textContent()).toBe("<img src=x onerror=alert(4)>");
      expect(await fieldRow.locator(".c-repo").textContent()).toBe('"><script>alert(5)</script>');
      expect(await fieldRow.locator(".c-logger").textContent()).toBe("<svg onload=alert(3)>");
      // Nothing from the log became an element.
      expect(
        await tab.page.locator("#log-canvas img, #log-canvas script, #log-canvas svg, #log-canvas b").count(),
      ).toBe(0);
      await Bun.sleep(200);
      expect(tab.dialogs).toEqual([]);
    },
    TEST_MS,
  );

  test(
    "an entry opens with the keyboard and shows every field and the summary's workflow steps",
    async () => {
      await using server = await startTestServer();
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs"));
      await waitForState(tab.page, "live");
      append(server, "app.log", timedLine(1));
      await waitForMessage(tab.page, "msg 1");
      append(
        server,
        "webhooks_2026-11-23.json",
        readFileSync(join(import.meta.dir, "..", "fixtures", "logs", "webhooks_2026-11-23.json"), "utf8"),
      );
      append(server, "webhooks_2026-11-23.json", SUMMARY_LINE);
      await waitForMessage(tab.page, "Webhook pull_request (opened) failed");
      await tab.page.focus("#log-viewport");
      await tab.page.keyboard.press("End");
      const focused = tab.page.locator("article.row:focus");
      expect(await focused.locator(".c-msg").textContent()).toStartWith(
        "Webhook pull_request (opened) failed",
      );
      await tab.page.keyboard.press("Enter");
      const detail = focused.locator(".detail");
      await detail.waitFor();
      expect(await focused.locator(".toggle").getAttribute("aria-expanded")).toBe("true");
      const steps = await detail
        .locator("table.steps tbody tr")
        .evaluateAll((rows) => rows.map((row) => [...row.children].map((cell) => cell.textContent)));
      expect(steps).toEqual([
        ["clone_repository", "completed", "1.5 s", "2025-01-05T10:00:01.000000Z", ""],
        ["apply_labels", "failed", "200 ms", "2025-01-05T10:00:03.500000Z", "ValueError: Label not found"],
      ]);
      const fields = await detail.locator("dl.fields").first().textContent();
      for (const text of ["test-hook-123", "org/test-repo", "456", "test-user", "35"])
        expect(fields).toContain(text);
      expect(await detail.locator(".summary").textContent()).toContain("TestError: Test failure message");

      // An open entry stays where it is while new ones arrive; the jump button brings the newest back.
      const openTop = await focused.boundingBox();
      append(server, "app.log", timedLines(2, 40));
      await waitForMessage(tab.page, "msg 39").catch(() => {});
      await tab.page.waitForFunction(() => document.getElementById("jump")?.hidden === false);
      expect((await focused.boundingBox())?.y).toBe(openTop?.y);

      // ArrowUp moves to the previous row; Space folds and unfolds.
      await tab.page.keyboard.press("Enter");
      await detail.waitFor({ state: "detached" });
      await tab.page.keyboard.press("ArrowUp");
      expect(await tab.page.locator("article.row:focus .c-msg").textContent()).not.toStartWith(
        "Webhook pull_request (opened)",
      );
      await tab.page.keyboard.press(" ");
      await tab.page.locator("article.row:focus .detail").waitFor();
      expect(tab.errors).toEqual([]);
      expect(await countText(tab.page)).toContain("entries");
    },
    TEST_MS,
  );

  test(
    "the shareable link and the export links follow the filters; the link never holds the token",
    async () => {
      await using server = await startTestServer({
        files: { "app.log": timedLines(0, 5, { repository: "acme/widgets" }) },
      });
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs?token=not-needed-here"));
      await tab.context.grantPermissions(["clipboard-read", "clipboard-write"]);
      await tab.page.selectOption("#f-level", "INFO");
      await tab.page.fill("#f-search", "msg");
      await tab.page.press("#f-search", "Enter");
      // The clipboard only takes writes from a focused document.
      await tab.page.bringToFront();
      await tab.page.click("#copy-link");
      await tab.page.waitForFunction(
        () => document.getElementById("toolbar-status")?.textContent === "Link copied",
      );
      const copied = await tab.page.evaluate(() => navigator.clipboard.readText());
      expect(copied).toBe(server.httpUrl("/logs?level=INFO&search=msg"));
      expect(new URL(tab.page.url()).searchParams.get("token")).toBe("not-needed-here");

      const ndjson = await tab.page.getAttribute("#export-ndjson", "href");
      expect(ndjson).toBe("/logs/api/export?level=INFO&search=msg&format=ndjson&token=not-needed-here");
      expect(await tab.page.getAttribute("#export-json", "href")).toContain("format=json");
      const exported = await fetch(server.httpUrl(ndjson ?? ""));
      expect(exported.status).toBe(200);
      const lines = (await exported.text()).trim().split("\n");
      expect(lines.map((line) => (JSON.parse(line) as { message: string }).message)).toEqual([
        "msg 4",
        "msg 3",
        "msg 2",
        "msg 1",
        "msg 0",
      ]);
    },
    TEST_MS,
  );

  test(
    "pause keeps receiving into a buffer and shows how many; resume shows them",
    async () => {
      await using server = await startTestServer();
      append(server, "app.log", timedLines(0, 3));
      await waitForEntriesSeen(server.httpUrl, 3);
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs"));
      await waitForCount(tab.page, 3);
      await waitForState(tab.page, "live");
      await tab.page.click("#pause");
      await waitForState(tab.page, "paused");
      expect(await tab.page.textContent("#pause")).toBe("Resume");
      append(server, "app.log", timedLines(3, 8));
      await tab.page.waitForFunction(() =>
        document.getElementById("counts")?.textContent?.includes("5 new while paused"),
      );
      expect(await tab.page.locator("#connection-text").textContent()).toBe("Paused: 5 new entries buffered");
      expect(await shownMessages(tab.page)).toEqual(["msg 0", "msg 1", "msg 2"]);
      await tab.page.click("#pause");
      await waitForCount(tab.page, 8);
      await waitForState(tab.page, "live");
      expect(await shownMessages(tab.page)).toEqual(Array.from({ length: 8 }, (_, i) => `msg ${i}`));
    },
    TEST_MS,
  );

  test(
    "fixture logs render: tracebacks fold into one row, unicode survives, every input has a label",
    async () => {
      await using server = await startTestServer();
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs"));
      await waitForState(tab.page, "live");
      append(server, "app.log", fixture("app.log"));
      await waitForMessage(tab.page, "测试 emoji 🚀");
      const traceback = tab.page.locator("article.row", { hasText: "Labeling failed" });
      expect(await traceback.locator(".c-msg").textContent()).toBe("Labeling failed …");
      expect(await tab.page.locator("article.row .c-repo", { hasText: "Ünïcødé/レポ" }).count()).toBe(1);
      const unlabeled = await tab.page.$$eval("input, select", (controls) =>
        controls
          .filter((control) => {
            const element = control as HTMLInputElement;
            return element.labels?.length === 0 && !element.getAttribute("aria-label");
          })
          .map((control) => control.id),
      );
      expect(unlabeled).toEqual([]);
      expect(jsonLine({ seq: 1 })).toContain("log_entry");
    },
    TEST_MS,
  );
});

/** Colour pairs shown on the page, with WCAG contrast ratios computed from the computed styles. */
async function contrasts(
  page: import("playwright-core").Page,
): Promise<Array<{ what: string; ratio: number }>> {
  return page.evaluate(() => {
    const parse = (color: string) => {
      const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(color);
      return m === null
        ? null
        : { rgb: [Number(m[1]), Number(m[2]), Number(m[3])], alpha: m[4] === undefined ? 1 : Number(m[4]) };
    };
    const luminance = (rgb: number[]) => {
      const [r, g, b] = rgb.map((v) => {
        const c = v / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      }) as [number, number, number];
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const background = (element: Element | null): number[] => {
      for (let node = element; node !== null; node = node.parentElement) {
        const color = parse(getComputedStyle(node).backgroundColor);
        if (color !== null && color.alpha > 0.5) return color.rgb;
      }
      return [255, 255, 255];
    };
    const selectors = [
      "body",
      ".field label",
      "article.row .c-time",
      "article.row .c-msg",
      "article.row .chip",
      "#counts",
      "#connection-text",
      ...["debug", "info", "warning", "error", "critical", "completed", "success", "step", "unknown"].map(
        (level) => `.badge.lvl-${level}`,
      ),
    ];
    const out: Array<{ what: string; ratio: number }> = [];
    for (const selector of selectors) {
      const element = document.querySelector(selector);
      if (element === null) continue;
      const fg = parse(getComputedStyle(element).color);
      if (fg === null) continue;
      const [a, b] = [luminance(fg.rgb), luminance(background(element))].sort((x, y) => y - x) as [
        number,
        number,
      ];
      out.push({ what: selector, ratio: Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100 });
    }
    return out;
  });
}

describe.skipIf(!requireChromium())("log page looks", () => {
  const chromium = useBrowser();

  test(
    "light and dark: every level and text colour has at least 4.5:1 contrast; screenshots for a person to check",
    async () => {
      await using server = await startTestServer();
      const levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "SUCCESS", "STEP", "INFO", "INFO"];
      let text = "";
      for (let seq = 0; seq < 40; seq++)
        text += timedLine(seq, {
          level: levels[seq % levels.length],
          repository: seq % 3 === 0 ? "acme/gadgets" : "acme/widgets",
          event: seq % 4 === 0 ? "check_run" : "pull_request",
          hook: `d1f0-${String(seq % 5).padStart(2, "0")}`,
          user: seq % 2 === 0 ? "alice" : "bob",
          pr: seq % 3 === 0 ? undefined : 40 + (seq % 7),
          message: [
            "Processing webhook",
            "Cloning repository",
            "Labeling failed: no such label",
            "API rate limit remaining: 4988",
            "[task_id=tox] Running tox",
          ][seq % 5],
        });
      append(server, "app.log", text);
      append(server, "app.log", fixture("app.log"));
      append(server, "webhooks_2026-11-23.json", fixture("webhooks_2026-11-23.json"));
      append(server, "other.log", "2026-11-23T10:00:05.000000Z helpers UNKNOWN odd line\n");
      await waitForEntriesSeen(server.httpUrl, 50);
      await Bun.sleep(200);
      // Last, so it is in view at the bottom.
      append(server, "webhooks_2026-11-23.json", SUMMARY_LINE);
      await Bun.sleep(200);
      for (const scheme of ["light", "dark"] as const) {
        await using tab = await openPage(chromium.browser, server.httpUrl("/logs"), { colorScheme: scheme });
        await waitForState(tab.page, "live");
        await tab.page
          .locator("article.row", { hasText: "Webhook pull_request (opened) failed" })
          .locator(".c-msg")
          .click();
        await tab.page.waitForSelector("table.steps");
        await tab.page.waitForTimeout(100);
        const low = (await contrasts(tab.page)).filter((pair) => pair.ratio < 4.5);
        expect({ scheme, low }).toEqual({ scheme, low: [] });
        await screenshot(tab.page, scheme === "light" ? "logs-page.png" : "logs-page-dark.png");
        expect(tab.errors).toEqual([]);
      }
    },
    TEST_MS,
  );

  test(
    "the theme toggle overrides the system choice and is remembered",
    async () => {
      await using server = await startTestServer();
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs"), { colorScheme: "light" });
      const background = () => tab.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(await background()).toBe("rgb(255, 255, 255)");
      await tab.page.click("#theme-toggle");
      expect(await tab.page.textContent("#theme-toggle")).toBe("Theme: light");
      await tab.page.click("#theme-toggle");
      expect(await tab.page.textContent("#theme-toggle")).toBe("Theme: dark");
      expect(await background()).toBe("rgb(13, 17, 23)");
      await tab.page.reload();
      expect(await tab.page.textContent("#theme-toggle")).toBe("Theme: dark");
      expect(await background()).toBe("rgb(13, 17, 23)");
    },
    TEST_MS,
  );
});
