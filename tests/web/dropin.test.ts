/**
 * The page on a directory the processor already wrote: it opens on the newest records from the files, then
 * goes live without a gap or a duplicate; and the flow view and the delivery ↔ log links.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { fixtureFiles } from "../helpers/gws-replay.ts";
import { append } from "../helpers/logs.ts";
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
/** 103 records in gws-twins and 7 in gws-flow. */
const RECORDS = 110;

describe.skipIf(!requireChromium())("the page on an existing log directory", () => {
  const chromium = useBrowser();

  test(
    "opens on the newest records already in the files, then goes live with nothing twice",
    async () => {
      await using server = await startTestServer({
        files: fixtureFiles(join(FIXTURES, "gws-twins"), join(FIXTURES, "gws-flow")),
      });
      await using tab = await openPage(chromium.browser, server.httpUrl("/logs"));
      await waitForState(tab.page, "live");
      await waitForCount(tab.page, RECORDS);
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
});
