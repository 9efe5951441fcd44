/**
 * The page under load, measured in the browser: long tasks (PerformanceObserver), the time between
 * animation frames, and the time the page's own per-frame work takes (its requestAnimationFrame callbacks),
 * while 1,000 entries/s arrive and while 102,000 arrive as fast as Chromium takes them; then a bounded DOM
 * and working scrolling with 100,000 entries held.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { append } from "../helpers/logs.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import {
  BROWSER_HOOK_MS,
  countText,
  launchBrowser,
  type OpenPage,
  openPage,
  requireChromium,
  rowCount,
  shownMessages,
  type TestBrowser,
  useBrowser,
  waitForCount,
  waitForMessage,
  waitForState,
} from "./browser.ts";
import { timedLine, timedLines } from "./lines.ts";

const TEST_MS = 20_000;
/**
 * Chromium takes at most about 7,000 WebSocket messages/s on a 2-core machine (measured with a bare socket and
 * no page), so 102,000 need ~15 s there, and twice that on a busy one.
 */
const INGEST_MS = 60_000;

/** Installed before the page's own script: long tasks, frame-to-frame times, and the page's frame callbacks. */
const RECORDER = `
  window.__perf = { longTasks: [], frames: [], work: [] };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__perf.longTasks.push(entry.duration);
  }).observe({ type: "longtask", buffered: true });
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (callback) => raf((time) => {
    const start = performance.now();
    callback(time);
    window.__perf.work.push(performance.now() - start);
  });
  let last = 0;
  const tick = (now) => {
    if (last !== 0) window.__perf.frames.push(now - last);
    last = now;
    raf(tick);
  };
  raf(tick);
`;

interface PerfSummary {
  frames: number;
  frameP50: number;
  frameP95: number;
  frameMax: number;
  workP50: number;
  workP95: number;
  workMax: number;
  longTasks: number;
  longTaskMax: number;
  longTaskTotal: number;
}

type Recorded = { longTasks: number[]; frames: number[]; work: number[] };

async function resetPerf(page: Page): Promise<void> {
  await page.evaluate(() => {
    const perf = (window as unknown as { __perf: Recorded }).__perf;
    perf.longTasks.length = 0;
    perf.frames.length = 0;
    perf.work.length = 0;
  });
}

async function readPerf(page: Page): Promise<PerfSummary> {
  return page.evaluate(() => {
    const perf = (window as unknown as { __perf: Recorded }).__perf;
    const quantile = (values: number[], q: number) => {
      const sorted = values.slice().sort((a, b) => a - b);
      return Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 10) / 10;
    };
    return {
      frames: perf.frames.length,
      frameP50: quantile(perf.frames, 0.5),
      frameP95: quantile(perf.frames, 0.95),
      frameMax: quantile(perf.frames, 1),
      workP50: quantile(perf.work, 0.5),
      workP95: quantile(perf.work, 0.95),
      workMax: quantile(perf.work, 1),
      longTasks: perf.longTasks.length,
      longTaskMax: Math.round(Math.max(0, ...perf.longTasks)),
      longTaskTotal: Math.round(perf.longTasks.reduce((a, b) => a + b, 0)),
    };
  });
}

/** Lines `from`..`to` whose repository is one of three, in turn. */
function linesOfRepos(from: number, to: number): string {
  let text = "";
  for (let seq = from; seq < to; seq++) text += timedLine(seq, { repository: `org/repo-${seq % 3}` });
  return text;
}

/** Rows in the DOM whose cells, label and place disagree about which entry they show (none expected). */
function mismatchedRows(page: Page): Promise<string[]> {
  return page.$$eval("#log-canvas article.row", (rows) =>
    rows.flatMap((row) => {
      const seq = Number(/msg (\d+)$/.exec(row.querySelector(".c-msg")?.textContent ?? "")?.[1]);
      const repo = row.querySelector<HTMLElement>(".c-repo");
      const time = row.querySelector("time");
      const fine =
        row.getAttribute("aria-label") === `INFO ${time?.getAttribute("datetime")} msg ${seq}` &&
        time?.getAttribute("title") === time?.getAttribute("datetime") &&
        repo?.textContent === `org/repo-${seq % 3}` &&
        repo?.dataset.filterValue === repo?.textContent &&
        repo?.title === `Filter by repository ${repo?.textContent}` &&
        row.getAttribute("aria-posinset") === String(seq + 1) &&
        row.querySelector(".toggle")?.getAttribute("aria-controls") === `detail-${row.dataset.id}`;
      return fine ? [] : [row.outerHTML];
    }),
  );
}

async function openRecorded(chromium: { readonly browser: Browser }, url: string): Promise<OpenPage> {
  const tab = await openPage(chromium.browser, "about:blank");
  await tab.page.addInitScript(RECORDER);
  await tab.page.goto(url);
  await waitForState(tab.page, "live");
  await resetPerf(tab.page);
  return tab;
}

describe.skipIf(!requireChromium())("log page at 1,000 entries/s", () => {
  const chromium = useBrowser();

  test(
    "every entry is shown and frames keep coming",
    async () => {
      await using server = await startTestServer();
      await using tab = await openRecorded(chromium, server.httpUrl("/logs"));
      const started = Date.now();
      // 50 lines every 50 ms, on schedule (not after each write), for 5 seconds; the repository changes
      // from line to line, so a row reused for a newer entry must show all of the new entry's values.
      for (let tick = 0; tick < 100; tick++) {
        append(server, "app.log", linesOfRepos(tick * 50, tick * 50 + 50));
        const wait = started + (tick + 1) * 50 - Date.now();
        if (wait > 0) await Bun.sleep(wait);
      }
      await waitForCount(tab.page, 5_000);
      const perf = await readPerf(tab.page);
      console.log(`1,000 entries/s for ${Date.now() - started} ms:`, JSON.stringify(perf));
      expect(await rowCount(tab.page)).toBeLessThan(100);
      expect((await shownMessages(tab.page)).at(-1)).toBe("msg 4999");
      expect(await mismatchedRows(tab.page)).toEqual([]);
      // Loose bounds, for a machine shared with the server, the writer and other jobs: they catch work that
      // grows with the entries held (rebuilding every row would take hundreds of ms a frame), not jitter.
      expect(perf.frames).toBeGreaterThan(50);
      expect(perf.frameP50).toBeLessThan(100);
      expect(perf.workP50).toBeLessThan(30);
    },
    TEST_MS,
  );
});

describe.skipIf(!requireChromium())("log page with 100,000 entries", () => {
  let chromium: TestBrowser;
  let server: TestServer;
  let tab: OpenPage;
  beforeAll(async () => {
    chromium = await launchBrowser();
    server = await startTestServer();
    tab = await openRecorded(chromium, server.httpUrl("/logs"));
    const started = Date.now();
    for (let from = 0; from < 102_000; from += 10_000)
      append(server, "app.log", timedLines(from, Math.min(from + 10_000, 102_000)));
    await tab.page.waitForFunction(
      () =>
        document.getElementById("counts")?.textContent ===
        "100,000 entries · 2,000 older dropped from view (keeping the newest 100,000)",
      undefined,
      { timeout: INGEST_MS - 5_000, polling: 100 },
    );
    const elapsed = Date.now() - started;
    const memory = await tab.page.evaluate(
      () => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0,
    );
    console.log(
      `102,000 entries in ${elapsed} ms (${Math.round(102_000 / (elapsed / 1000))}/s, JS heap ${Math.round(memory / 1e6)} MB):`,
      JSON.stringify(await readPerf(tab.page)),
    );
  }, INGEST_MS);
  afterAll(async () => {
    await tab?.[Symbol.asyncDispose]();
    await server?.[Symbol.asyncDispose]();
    await chromium?.close();
  }, BROWSER_HOOK_MS);

  test("the DOM holds only the rows in view, however many entries are held", async () => {
    expect(await rowCount(tab.page)).toBeLessThan(300);
    expect((await shownMessages(tab.page)).at(-1)).toBe("msg 101999");
  });

  test(
    "scrolling shows the right rows, and new entries do not move a view scrolled away from the newest",
    async () => {
      await resetPerf(tab.page);
      await tab.page.$eval("#log-viewport", (viewport) => {
        viewport.scrollTop = viewport.scrollHeight / 2;
      });
      await tab.page.waitForFunction(() => !document.getElementById("jump")?.hidden);
      await tab.page.waitForFunction(() =>
        [...document.querySelectorAll("#log-canvas .c-msg")].some((cell) => cell.textContent === "msg 52000"),
      );
      expect(await rowCount(tab.page)).toBeLessThan(300);

      const before = await shownMessages(tab.page);
      append(server, "app.log", timedLines(102_000, 102_010));
      await tab.page.waitForFunction(() =>
        document.getElementById("counts")?.textContent?.includes("2,010 older dropped"),
      );
      await Bun.sleep(100);
      expect((await shownMessages(tab.page)).slice(1, -1)).toEqual(before.slice(1, -1));

      // By keyboard: to the oldest held entry, then page by page.
      await tab.page.focus("#log-viewport");
      await tab.page.keyboard.press("Home");
      await tab.page.waitForFunction(
        () => document.querySelector("article.row:focus .c-msg")?.textContent === "msg 2010",
      );
      for (let i = 0; i < 5; i++) await tab.page.keyboard.press("PageDown");
      expect(await rowCount(tab.page)).toBeLessThan(300);
      // Wheel scrolling through the middle of the list.
      await tab.page.mouse.move(700, 600);
      for (let i = 0; i < 20; i++) await tab.page.mouse.wheel(0, 4_000);
      await tab.page.waitForTimeout(100);
      expect(await rowCount(tab.page)).toBeLessThan(300);
      console.log("scrolling through 100,000 entries:", JSON.stringify(await readPerf(tab.page)));

      await tab.page.click("#jump");
      await tab.page.waitForFunction(() => document.getElementById("jump")?.hidden === true);
      expect((await shownMessages(tab.page)).at(-1)).toBe("msg 102009");
      await waitForCount(tab.page, 100_000);
    },
    TEST_MS,
  );

  test(
    "1,000 entries/s keep arriving smoothly with 100,000 held",
    async () => {
      await resetPerf(tab.page);
      const started = Date.now();
      for (let tick = 0; tick < 60; tick++) {
        const from = 103_000 + tick * 50;
        append(server, "app.log", timedLines(from, from + 50));
        const wait = started + (tick + 1) * 50 - Date.now();
        if (wait > 0) await Bun.sleep(wait);
      }
      await waitForMessage(tab.page, "msg 105999");
      const perf = await readPerf(tab.page);
      console.log("1,000 entries/s with 100,000 held:", JSON.stringify(perf));
      expect(await countText(tab.page)).toStartWith("100,000 entries · 5,010 older dropped");
      expect(await rowCount(tab.page)).toBeLessThan(300);
      expect(perf.workP50).toBeLessThan(30);
    },
    TEST_MS,
  );
});
