/**
 * Replay and the smee event-stream in cluster mode: two instances on one real Redis act as one relay for
 * them too. A replay asked of one instance reaches a subscriber of the other, marked; a stream read from
 * one instance carries what was posted to the other.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { suiteRedis } from "../helpers/cluster.ts";
import { redisAvailable } from "../helpers/redis.ts";
import type { RelayFixture, WebhookMessage } from "../helpers/relay.ts";
import { startRelayCluster } from "../helpers/relay-cluster.ts";

setDefaultTimeout(20_000);

describe.skipIf(!redisAvailable)("clients across instances", () => {
  const redis = suiteRedis();

  test("a replay asked of one instance reaches a subscriber of the other, marked, with a stream cursor", async () => {
    await using cluster = await startRelayCluster(redis, 2);
    const [a, b] = cluster.fixtures as [RelayFixture, RelayFixture];
    const bucket = await a.createBucket("replays");
    const onB = await b.subscribed(cluster.admin, ["replays"]);
    expect((await a.post(bucket.inputs[0]?.id as string, "original")).status).toBe(200);
    const original = await onB.nextJson<WebhookMessage>();
    const replayed = await a.api("POST", `/v1/buckets/replays/deliveries/${original.meta.id}/replay`);
    expect(replayed.status).toBe(201);
    const copy = await onB.nextJson<WebhookMessage & { replay?: { of: string } }>(10_000);
    expect(copy.replay).toEqual({ of: original.meta.id });
    expect(copy.body).toBe("original");
    expect(copy.cursor).toMatch(/^\d+-\d+$/);
    onB.close();
  });

  test("a smee stream read from one instance carries a webhook posted to the other", async () => {
    await using cluster = await startRelayCluster(redis, 2);
    const [a] = cluster.fixtures as [RelayFixture];
    const bucket = await a.createBucket("smee");
    const input = bucket.inputs[0]?.id as string;
    const { key, secret } = cluster.admin;
    const stream = await fetch(
      cluster.instances[1]?.httpUrl(`/smee/${input}?token=${key}:${secret}`) as string,
      {
        headers: { Accept: "text/event-stream" },
      },
    );
    expect(stream.status).toBe(200);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain("event: ready");
    const posted = await fetch(cluster.instances[0]?.httpUrl(`/smee/${input}`) as string, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-GitHub-Event": "push" },
      body: '{"across":true}',
    });
    expect(posted.status).toBe(200);
    // The ready event first, then the delivery's event: `id: <stream id>` and its data.
    while (!/\nid: .*\ndata: .*\n\n/.test(text))
      text += new TextDecoder().decode((await reader.read()).value);
    const event = /\nid: (.*)\ndata: (.*)\n\n/.exec(text) as RegExpExecArray;
    expect(event[1]).toMatch(/^\d+-\d+$/);
    expect(JSON.parse(event[2] as string)).toMatchObject({
      body: { across: true },
      "x-github-event": "push",
    });
    await reader.cancel();
  });
});
