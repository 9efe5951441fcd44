/**
 * The nginx and Caddy recipes, run for real in front of a real server: the seed's Node client streams logs
 * through them, a webhook is relayed through them to a relay socket that is connected through them too, and
 * /metrics is not served by them.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { append, textLine } from "../helpers/logs.ts";
import { type RunningProxy, startCaddy, startNginx } from "../helpers/proxies.ts";
import { relayFixture, repoRoot, type WebhookMessage } from "../helpers/relay.ts";
import { requireTool } from "../helpers/requirements.ts";
import { NODE_SEED, runClient } from "../helpers/seed-clients.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

const proxies: Array<[string, string, (upstreamPort: number) => Promise<RunningProxy>]> = [
  ["nginx", "apt-get install -y nginx", startNginx],
  ["caddy", "apt-get install -y caddy", startCaddy],
];

for (const [name, installHint, start] of proxies) {
  if (!requireTool(name, Bun.which(name) !== null, installHint)) continue;

  describe(`${name} in front`, () => {
    test("passes the log stream to the seed's Node client and relays a webhook both ways", async () => {
      await using server = await startTestServer({ files: { "server.log": "" } });
      await using proxy = await start(Number(server.server.port));
      const dir = mkdtempSync(join(tmpdir(), "hookstream-seed-"));
      try {
        writeFileSync(
          join(dir, "client.cjs"),
          NODE_SEED.replace("localhost:5000", `127.0.0.1:${proxy.port}`),
        );
        const client = runClient(["node", "client.cjs"], dir, { NODE_PATH: join(repoRoot, "node_modules") });
        await waitFor(
          () => client.output().includes("Connected to log stream"),
          10_000,
          "seed client connected",
        );
        await waitFor(
          async () => {
            const health = (await (await fetch(server.httpUrl("/health"))).json()) as {
              logs: { subscribers: number };
            };
            return health.logs.subscribers === 1;
          },
          5000,
          "the proxied client subscribed",
        );
        append(
          server,
          "server.log",
          textLine({ seq: 1, pr: 123, level: "ERROR" }) + textLine({ seq: 2, pr: 7 }),
        );
        await waitFor(() => client.output().includes("msg 1"), 5000, `entry printed through ${name}`);

        await using relay = await relayFixture({
          dataDir: server.dataDir,
          httpUrl: proxy.httpUrl,
          wsUrl: proxy.wsUrl,
        });
        const bucket = await relay.createBucket("proxied");
        const subscriber = await relay.subscribed(relay.admin, ["proxied"]);
        const body = JSON.stringify({ zen: "through the proxy", padding: "x".repeat(100_000) });
        const answer = await relay.post((bucket.inputs[0] as { id: string }).id, body, {
          headers: { "Content-Type": "application/json", "X-GitHub-Delivery": "proxied-1" },
        });
        expect(answer.status).toBe(200);
        let message: WebhookMessage | null = null;
        while (message === null) {
          const next = JSON.parse(await subscriber.next()) as WebhookMessage | { type: string };
          if (next.type === "webhook") message = next as WebhookMessage;
        }
        expect(message.body).toBe(body);

        expect((await fetch(proxy.httpUrl("/metrics"))).status).toBe(404);
        expect((await fetch(proxy.httpUrl("/readyz"))).status).toBe(200);

        await server.shutdown();
        expect(await client.done()).toBe(0);
        expect(client.output()).toMatch(/\[ERROR\] msg 1\nConnection closed: 1001 - Server shutdown\n$/);
        expect(client.output()).not.toContain("msg 2");
        subscriber.close();
      } catch (error) {
        throw new Error(`${String(error)}\n${name} said: ${proxy.log()}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 30_000);
  });
}
