/**
 * Outputs and response passthrough with two instances sharing a real Redis: hookstream's own deliveries go
 * out once each whichever instance claims them, and an agent's answer given to one instance reaches the
 * sender waiting on the other.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnChild } from "../helpers/child.ts";
import { suiteRedis } from "../helpers/cluster.ts";
import { redisAvailable } from "../helpers/redis.ts";
import type { RelayFixture } from "../helpers/relay.ts";
import { startRelayCluster } from "../helpers/relay-cluster.ts";
import { startTarget } from "../helpers/target.ts";
import { waitFor } from "../helpers/ws.ts";

setDefaultTimeout(20_000);

describe.skipIf(!redisAvailable)("outputs and passthrough across instances", () => {
  const redis = suiteRedis();

  test("an output hookstream delivers gets each webhook once, whichever instance received it", async () => {
    await using cluster = await startRelayCluster(redis, 2);
    const [a, b] = cluster.fixtures as [RelayFixture, RelayFixture];
    using target = startTarget();
    const bucket = await a.createBucket("shared");
    const added = await a.api("POST", "/v1/buckets/shared/outputs", {
      name: "app",
      destination: target.url("/"),
    });
    expect(added.status).toBe(201);
    const input = bucket.inputs[0]?.id as string;
    const sent = ["1", "2", "3", "4", "5", "6"];
    for (const body of sent) expect((await (Number(body) % 2 ? a : b).post(input, body)).status).toBe(200);
    await waitFor(() => target.received.length >= sent.length, 10_000, "every webhook delivered");
    // A sentinel after them: once it arrived, both instances have polled past the first six.
    expect((await b.post(input, "7")).status).toBe(200);
    await waitFor(() => target.texts().includes("7"), 10_000, "sentinel delivered");
    expect(target.texts().sort()).toEqual([...sent, "7"]);
    const delivered = async (index: number) =>
      (
        (await (await fetch(cluster.instances[index]?.httpUrl("/health") as string)).json()) as {
          relay: { outputs: { delivered: number } };
        }
      ).relay.outputs.delivered;
    // Counted once each: by the instance that sent it, after the answer.
    await waitFor(
      async () => (await delivered(0)) + (await delivered(1)) === sent.length + 1,
      5000,
      "seven counted",
    );
    expect(target.received).toHaveLength(sent.length + 1);
  });

  test("an agent's answer given to one instance reaches the sender waiting on the other", async () => {
    await using cluster = await startRelayCluster(redis, 2);
    const [a, b] = cluster.fixtures as [RelayFixture, RelayFixture];
    using app = startTarget(
      () => new Response("answered across", { status: 201, headers: { "X-App": "1" } }),
    );
    const bucket = await a.createBucket("across");
    const input = bucket.inputs[0]?.id as string;
    const set = await a.api("PUT", `/v1/buckets/across/inputs/${input}`, { passthrough: true });
    expect(set.status).toBe(200);
    const token = await a.createToken({ buckets: ["across"] });
    const scratch = mkdtempSync(join(tmpdir(), "hookstream-cluster-forward-"));
    try {
      // The agent talks to instance b; the sender posts to instance a.
      await using agent = spawnChild(
        [
          "forward",
          "--url",
          cluster.instances[1]?.httpUrl("/") as string,
          "--target",
          app.url("/"),
          "--cursor-file",
          join(scratch, "cursor.json"),
        ],
        { RELAY_KEY: token.key, RELAY_SECRET: token.secret, BUCKETS: "across" },
      );
      await agent.waitForLine(/subscribed to buckets: across/);
      // Instance b learns of settings changed through a within RELAY_RECHECK_MS: a probe input changed after
      // this one shows when b has read both.
      const probe = await a.createBucket("probe");
      const probeInput = probe.inputs[0]?.id as string;
      await a.api("PUT", `/v1/buckets/probe/inputs/${probeInput}`, {
        passthrough: true,
        passthrough_timeout_ms: 100,
      });
      const watcher = await b.subscribed(cluster.admin, ["probe"]);
      await waitFor(
        async () => {
          await a.post(probeInput, "probe");
          return (await watcher.nextJson<{ passthrough?: unknown }>()).passthrough !== undefined;
        },
        5000,
        "instance b reads the passthrough settings",
      );
      watcher.close();
      const response = await a.post(input, "who answers?");
      expect(response.status).toBe(201);
      expect(await response.text()).toBe("answered across");
      expect(response.headers.get("x-app")).toBe("1");
      expect(response.headers.get("content-security-policy")).toBe("sandbox");
      expect(app.texts()).toEqual(["who answers?"]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
