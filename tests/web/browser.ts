import { afterAll, beforeAll } from "bun:test";
/**
 * Headless Chromium (Debian's) driven by playwright-core, for the page tests. One browser per test file;
 * each test gets a fresh context. Pages record dialogs and console errors so tests can assert none happened.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { requireTool } from "../helpers/requirements.ts";

export const CHROMIUM = "/usr/bin/chromium";
export const outputDir = join(import.meta.dir, "..", "..", ".test-output");

/** Registers a skip (or a CI failure) when Chromium is missing; returns whether the browser tests can run. */
export function requireChromium(): boolean {
  return requireTool("chromium", existsSync(CHROMIUM), "apt-get install -y chromium");
}

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/** Starting or stopping Chromium on a busy 2-core machine can take well over the default 5 s hook limit. */
export const BROWSER_HOOK_MS = 30_000;

/**
 * One Chromium for the enclosing `describe`: launched before its tests, closed after them. The returned
 * object's `browser` is valid inside the tests.
 */
export function useBrowser(): { readonly browser: Browser } {
  let launched: TestBrowser | undefined;
  beforeAll(async () => {
    launched = await launchBrowser();
  }, BROWSER_HOOK_MS);
  afterAll(async () => {
    await launched?.close();
  }, BROWSER_HOOK_MS);
  return {
    get browser() {
      if (launched === undefined) throw new Error("the browser is used outside the tests of its describe");
      return launched.browser;
    },
  };
}

/** `launch` starts Chromium with a fresh temporary `--user-data-dir` of its own, removed on close. */
export async function launchBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 15_000,
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

export interface OpenPage {
  page: Page;
  context: BrowserContext;
  /** Dialogs (alert, confirm…) the page opened: log content must never open one. */
  dialogs: string[];
  /** Uncaught errors and console errors. */
  errors: string[];
  [Symbol.asyncDispose](): Promise<void>;
}

export async function openPage(
  browser: Browser,
  url: string,
  options: { colorScheme?: "light" | "dark"; viewport?: { width: number; height: number } } = {},
): Promise<OpenPage> {
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1400, height: 900 },
    colorScheme: options.colorScheme ?? "light",
  });
  const page = await context.newPage();
  page.setDefaultTimeout(8_000);
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await page.goto(url);
  return {
    page,
    context,
    dialogs,
    errors,
    async [Symbol.asyncDispose]() {
      await context.close();
    },
  };
}

/** Saves a screenshot under .test-output/ (gitignored) for a person to look at. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(outputDir, { recursive: true });
  const path = join(outputDir, name);
  await page.screenshot({ path });
  return path;
}

/** Rows currently in the DOM. */
export function rowCount(page: Page): Promise<number> {
  return page.locator("#log-canvas article.row").count();
}

/** The messages of the rows in the DOM, top to bottom. */
export function shownMessages(page: Page): Promise<string[]> {
  return page.$$eval("#log-canvas article.row", (rows) =>
    rows
      .map((row) => ({
        top: new DOMMatrixReadOnly(getComputedStyle(row).transform).m42,
        text: row.querySelector(".c-msg")?.firstChild?.textContent ?? "",
      }))
      .sort((a, b) => a.top - b.top)
      .map((row) => row.text),
  );
}

/** Waits until the connection indicator says `state` (data-state on #connection). */
export async function waitForState(page: Page, state: string, timeout = 8_000): Promise<void> {
  await page.waitForSelector(`#connection[data-state="${state}"]`, { timeout });
}

/** Text shown by the entry counter, e.g. "1,234 entries". */
export async function countText(page: Page): Promise<string> {
  return (await page.locator("#counts").textContent()) ?? "";
}

/** Waits until the counter shows exactly `n` entries. */
export async function waitForCount(page: Page, n: number, timeout = 8_000): Promise<void> {
  const expected = `${n.toLocaleString("en")} entries`;
  await page.waitForFunction(
    (text) => (document.getElementById("counts")?.textContent ?? "").startsWith(text),
    expected,
    { timeout },
  );
}

/** Waits until a row whose message starts with `text` is in the DOM. */
export async function waitForMessage(page: Page, text: string, timeout = 8_000): Promise<void> {
  await page.waitForFunction(
    (wanted) =>
      [...document.querySelectorAll("#log-canvas .c-msg")].some((cell) =>
        (cell.firstChild?.textContent ?? "").startsWith(wanted),
      ),
    text,
    { timeout },
  );
}

/** Waits until the server has taken in `n` log entries (so they are in its journal for a backfill). */
export async function waitForEntriesSeen(httpUrl: (path: string) => string, n: number, timeout = 8_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const health = (await (await fetch(httpUrl("/health"))).json()) as { logs: { entries_seen: number } };
    if (health.logs.entries_seen >= n) return;
    if (Date.now() > deadline) throw new Error(`server saw ${health.logs.entries_seen} of ${n} entries`);
    await Bun.sleep(20);
  }
}
