/**
 * The Webhooks tab shows how hookstream's own delivery to each output went, in Chromium against a real
 * server and a real destination.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { relayFixture } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { startTarget } from "../helpers/target.ts";
import { waitFor } from "../helpers/ws.ts";
import { openPage, requireChromium, useBrowser } from "./browser.ts";

// A real server, a browser and a destination on a shared 2-core machine: more than bun's 5 s default.
setDefaultTimeout(20_000);

describe.skipIf(!requireChromium())("outputs in the Webhooks tab", () => {
  const chromium = useBrowser();

  test("the shown delivery lists each output's outcome", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    using target = startTarget(() => new Response("accepted", { status: 202 }));
    const bucket = await relay.createBucket("github");
    const added = await relay.api("POST", "/v1/buckets/github/outputs", {
      name: "ci",
      destination: target.url("/hook"),
    });
    expect(added.status).toBe(201);
    await relay.post(bucket.inputs[0]?.id as string, '{"action":"opened"}', {
      headers: { "Content-Type": "application/json" },
    });
    await waitFor(() => target.received.length === 1, 5000, "delivered to the output");

    await using tab = await openPage(chromium.browser, server.httpUrl("/logs#webhooks"));
    await tab.page.waitForFunction(() =>
      (document.getElementById("delivery-detail")?.textContent ?? "").includes("delivered · HTTP 202"),
    );
    expect(await tab.page.locator("#delivery-detail").textContent()).toContain(
      `output cidelivered · HTTP 202 · 1 attempt → ${target.url("/hook")}`,
    );
    expect(tab.errors).toEqual([]);
  });
});
