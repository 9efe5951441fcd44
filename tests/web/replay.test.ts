/**
 * The Webhooks tab's Replay button, in Chromium against a real server: a subscriber receives the copy
 * marked as a replay, and the tab shows it. Also the route the button calls, and who may call it.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { relayFixture, type WebhookMessage } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { openPage, requireChromium, useBrowser } from "./browser.ts";

// Real servers and child processes on a shared 2-core machine: more than bun's 5 s default per test.
setDefaultTimeout(20_000);

const TOKEN = "a-logs-token-of-enough-length";

describe("the replay route of the page", () => {
  test("same-origin requests replay; another site's are refused; the copy is listed with replay_of", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("page");
    await relay.post(bucket.inputs[0]?.id as string, "one");
    const listed = async () =>
      (
        (await (await fetch(server.httpUrl("/logs/api/deliveries?bucket=page"))).json()) as {
          deliveries: Array<{ id: string; replay_of?: string }>;
        }
      ).deliveries;
    const [original] = await listed();
    const path = server.httpUrl(`/logs/api/deliveries/page/${original?.id}/replay`);
    const host = new URL(server.httpUrl("/")).host;

    const crossSite = await fetch(path, { method: "POST", headers: { Origin: "http://evil.example" } });
    expect(crossSite.status).toBe(403);
    expect(((await crossSite.json()) as { error: string }).error).toBe("Cross-site request refused");
    const fetchMetadata = await fetch(path, { method: "POST", headers: { "Sec-Fetch-Site": "cross-site" } });
    expect(fetchMetadata.status).toBe(403);
    expect((await listed()).length).toBe(1);

    const replayed = await fetch(path, { method: "POST", headers: { Origin: `http://${host}` } });
    expect(replayed.status).toBe(201);
    const copy = (await replayed.json()) as { id: string; replay_of: string };
    expect(copy.replay_of).toBe(original?.id as string);
    expect((await listed())[0]).toMatchObject({ id: copy.id, replay_of: original?.id });
    const missing = await fetch(server.httpUrl("/logs/api/deliveries/page/999999/replay"), {
      method: "POST",
    });
    expect(missing.status).toBe(404);
  });

  test("with LOGS_TOKEN set, replaying needs the token like the deliveries beside it", async () => {
    await using server = await startTestServer({ env: { LOGS_TOKEN: TOKEN } });
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("page");
    await relay.post(bucket.inputs[0]?.id as string, "one");
    const page = await relay.store.recentDeliveries(bucket.id, 1);
    const path = server.httpUrl(`/logs/api/deliveries/page/${page[0]?.id}/replay`);
    expect((await fetch(path, { method: "POST" })).status).toBe(401);
    const authorised = await fetch(path, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(authorised.status).toBe(201);
  });
});

describe.skipIf(!requireChromium())("the Replay button", () => {
  const chromium = useBrowser();

  test("re-sends the shown delivery: a subscriber gets it marked as a replay, and the tab shows the copy", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("github");
    const reader = await relay.createToken({ buckets: ["github"] });
    const socket = await relay.subscribed(reader, ["github"]);
    await relay.post(bucket.inputs[0]?.id as string, '{"action":"opened"}', {
      headers: { "Content-Type": "application/json", "X-GitHub-Event": "issues" },
    });
    const original = await socket.nextJson<WebhookMessage>();

    await using tab = await openPage(chromium.browser, server.httpUrl("/logs#webhooks"));
    await tab.page.waitForFunction(() =>
      /1 recent delivery/.test(document.getElementById("deliveries-status")?.textContent ?? ""),
    );
    await tab.page.click("#delivery-replay");
    const copy = await socket.nextJson<WebhookMessage & { replay?: { of: string } }>();
    expect(copy.replay).toEqual({ of: original.meta.id });
    expect(copy.body).toBe('{"action":"opened"}');
    await tab.page.waitForFunction(
      (id) =>
        document.getElementById("deliveries-status")?.textContent?.includes(`re-sent as delivery ${id}`),
      copy.meta.id,
    );
    expect(await tab.page.locator("#deliveries-list button.delivery").count()).toBe(2);
    expect(await tab.page.locator("#delivery-detail").textContent()).toContain(
      `replay of${original.meta.id}`,
    );
    expect(tab.errors).toEqual([]);
    socket.close();
  }, 20_000);
});
