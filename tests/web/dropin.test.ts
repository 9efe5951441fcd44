/**
 * The page on a directory the processor already wrote: it opens on the newest records from the files, then
 * goes live without a gap or a duplicate; and the flow view and the delivery ↔ log links.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { fixtureFiles } from "../helpers/gws-replay.ts";
import { append } from "../helpers/logs.ts";
import { relayFixture } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import {
  openPage,
  requireChromium,
  screenshot,
  shownMessages,
  useBrowser,
  waitForCount,
  waitForMessage,
  waitForState,
} from "./browser.ts";

const TEST_MS = 30_000;
const FIXTURES = join(import.meta.dir, "..", "fixtures");
const HOOK = "2f6d20ce-ee0b-11f1-bbe4-02fc00000001";
const FAILED_HOOK = "308eb698-ee0b-11f1-bbe4-02fc00000001";
/** 103 records in gws-twins and 7 in gws-flow. */
const RECORDS = 110;
const FILES = fixtureFiles(join(FIXTURES, "gws-twins"), join(FIXTURES, "gws-flow"));

describe.skipIf(!requireChromium())("the page on an existing log directory", () => {
  const chromium = useBrowser();
  /** The page on the fixture directory, live, showing all of it. */
  const openOnRecords = async (url: string) => {
    const tab = await openPage(chromium.browser, url);
    await waitForState(tab.page, "live");
    await waitForCount(tab.page, RECORDS);
    return tab;
  };

  test(
    "opens on the newest records already in the files, then goes live with nothing twice",
    async () => {
      await using server = await startTestServer({ files: FILES });
      await using tab = await openOnRecords(server.httpUrl("/logs"));
      await screenshot(tab.page, "dropin-existing-directory.png");
      const shown = await shownMessages(tab.page);
      expect(shown.at(-1)).toBe("token *****  7 API calls (initial: 4000, remaining: 3993)");

      append(
        server,
        "webhooks_2026-12-03.json",
        `${JSON.stringify({ type: "log_entry", timestamp: "2026-12-03T09:20:00.000000+00:00", level: "INFO", logger_name: "webhook-server.log", message: "written after the page opened" })}\n`,
      );
      await waitForMessage(tab.page, "written after the page opened");
      await waitForCount(tab.page, RECORDS + 1);
      const messages = await shownMessages(tab.page);
      expect(messages.filter((m) => m === "written after the page opened")).toHaveLength(1);
      expect(tab.errors).toEqual([]);
    },
    TEST_MS,
  );

  test(
    "a hook id opens its timeline; a step opens its logs; a PR lists its hooks; all by keyboard too",
    async () => {
      await using server = await startTestServer({ files: FILES });
      await using tab = await openOnRecords(server.httpUrl("/logs"));
      const dialog = tab.page.locator("#flow-dialog");

      await tab.page.locator("article.row .c-hook", { hasText: FAILED_HOOK }).first().click();
      await tab.page.waitForSelector("#flow-dialog .flow-step");
      expect(await tab.page.locator("#flow-title").textContent()).toBe(`Hook ${FAILED_HOOK}`);
      const steps = dialog.locator(".flow-step");
      expect(await steps.allInnerTexts()).toEqual([
        expect.stringMatching(/^◷\s+webhook_routing\s+started\s+\+20 ms$/),
        expect.stringMatching(/^✗\s+repo_clone\s+failed\s+77 ms\s+\+74 ms$/),
      ]);
      expect(await dialog.locator(".step-error").textContent()).toBe("RuntimeError: Clone failed");
      expect(await dialog.locator(".fields").textContent()).toContain(
        "failed: RuntimeError: Failed to fetch PR 412 ref",
      );
      // The first step has the focus; Tab moves to the failed one, Enter opens its logs.
      expect(await tab.page.evaluate(() => document.activeElement?.textContent)).toContain("webhook_routing");
      await tab.page.keyboard.press("Tab");
      await tab.page.keyboard.press("Enter");
      await tab.page.waitForSelector("#flow-dialog .flow-log li");
      const logLines = await dialog.locator(".flow-log-message").allInnerTexts();
      expect(logLines[0]).toStartWith("Failed to fetch PR 412 ref");
      expect(logLines.at(-1)).toStartWith(
        "Running 'git clone https://***REDACTED***@github.com/RedHatQE/mtv-api-tests.git",
      );
      await screenshot(tab.page, "dropin-flow-hook.png");
      await tab.page.keyboard.press("Escape");
      await tab.page.waitForSelector("#flow-dialog", { state: "hidden" });

      await tab.page.locator("article.row .c-pr", { hasText: "#412" }).first().click();
      await tab.page.waitForSelector("#flow-dialog .flow-hook");
      expect(await tab.page.locator("#flow-title").textContent()).toBe("PR #412");
      expect(await dialog.locator(".flow-hook .hook-id").allInnerTexts()).toEqual([FAILED_HOOK]);
      await screenshot(tab.page, "dropin-flow-pr.png");
      await tab.page.keyboard.press("Enter"); // the first hook has the focus
      await tab.page.waitForSelector("#flow-dialog .flow-step");
      expect(await tab.page.locator("#flow-title").textContent()).toBe(`Hook ${FAILED_HOOK}`);

      // From the flow back to the log: only this hook's entries.
      await dialog.getByRole("button", { name: "Show only this hook's entries" }).click();
      await tab.page.waitForSelector("#flow-dialog", { state: "hidden" });
      expect(new URL(tab.page.url()).searchParams.get("hook_id")).toBe(FAILED_HOOK);
      expect(tab.errors).toEqual([]);
      expect(tab.dialogs).toEqual([]);
    },
    TEST_MS,
  );

  test(
    "a relayed delivery links to its processing, whose flow shows the webhook; an unrelayed hook says so",
    async () => {
      await using server = await startTestServer({ files: FILES });
      await using relay = await relayFixture(server);
      const bucket = await relay.createBucket("github");
      const posted = await relay.post(
        bucket.inputs[0]?.id as string,
        '{"action": "opened", "number": 1194}',
        {
          headers: {
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": HOOK,
            Authorization: "Bearer s3cr3t-value",
          },
        },
      );
      expect(posted.status).toBe(200);
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs"));
      await waitForState(tab.page, "live");
      await waitForCount(tab.page, RECORDS + 1); // the relay logs the delivery it received, too
      const dialog = tab.page.locator("#flow-dialog");

      await tab.page.click("#tab-webhooks");
      await tab.page.getByRole("button", { name: `Its processing: log and flow of hook ${HOOK}` }).click();
      await tab.page.waitForSelector("#flow-dialog .flow-step");
      expect(await tab.page.locator("#logs-panel").isVisible()).toBe(true);
      expect(new URL(tab.page.url()).searchParams.get("hook_id")).toBe(HOOK);
      expect(await tab.page.locator("#flow-title").textContent()).toBe(`Hook ${HOOK}`);
      expect(await dialog.locator(".flow-step .step-name").allTextContents()).toEqual([
        "webhook_routing",
        "repo_clone",
        "pr_handler",
      ]);
      await dialog.locator(".flow-webhook table.headers").waitFor();
      const headers = Object.fromEntries(
        await dialog
          .locator(".flow-webhook table.headers tbody tr")
          .evaluateAll((rows) =>
            rows.map((row) => [row.children[0]?.textContent, row.children[1]?.textContent]),
          ),
      );
      expect(headers).toMatchObject({ "X-Github-Delivery": HOOK, Authorization: "Bearer *****" });
      expect(await dialog.locator(".flow-webhook pre.body").textContent()).toContain('"number": 1194');
      const ofHook = (await (await fetch(server.httpUrl(`/logs/api/entries?hook_id=${HOOK}`))).json()) as {
        entries: unknown[];
      };
      // The log now shows this hook's entries only: those in the files, and the relay's own entry for it.
      await waitForCount(tab.page, ofHook.entries.length + 1);
      expect(await shownMessages(tab.page)).toContain(
        "Webhook pull_request received on bucket github (36 bytes)",
      );
      await screenshot(tab.page, "dropin-flow-webhook.png");
      await tab.page.keyboard.press("Escape");

      await tab.page.goto(server.httpUrl(`/logs?hook_id=${FAILED_HOOK}`));
      await waitForState(tab.page, "live");
      await tab.page.locator("article.row .c-hook").first().click();
      await dialog.locator(".not-relayed").waitFor();
      expect(await dialog.locator(".not-relayed").textContent()).toStartWith(
        `hookstream did not relay this webhook: no stored delivery has X-GitHub-Delivery ${FAILED_HOOK}`,
      );
      expect(tab.errors).toEqual([]);
    },
    TEST_MS,
  );
});
