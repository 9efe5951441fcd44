/**
 * /metrics scraped while real traffic flows: log lines appended to real files and streamed to real
 * WebSocket clients, webhooks posted and relayed, failed sign-ins. Each scrape is compared with the one before.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, renameSync, truncateSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { startInstance, uniquePrefix } from "../helpers/cluster.ts";
import { append, connectLogs, jsonLine, textLine } from "../helpers/logs.ts";
import { type Scrape, sample, scrape } from "../helpers/metrics.ts";
import { redisAvailable, startRedis } from "../helpers/redis.ts";
import { relayFixture } from "../helpers/relay.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor, wsConnect } from "../helpers/ws.ts";

const METRICS_TOKEN = "metrics-token-0123456789";

/** Scrapes until `ready(scrape)` holds (the server counts asynchronously to the client's view). */
async function scrapeUntil(server: TestServer, ready: (s: Scrape) => boolean, what: string): Promise<Scrape> {
  let latest: Scrape = new Map();
  await waitFor(
    async () => {
      latest = await scrape(server);
      return ready(latest);
    },
    5000,
    what,
  );
  return latest;
}

describe("log stream counters", () => {
  test("move with appended lines, parsed or not, and with the clients that receive them", async () => {
    await using server = await startTestServer({ env: { LOG_DEDUPE: "false" } });
    const all = await connectLogs(server);
    const errorsOnly = await connectLogs(server, "level=ERROR");
    const before = await scrape(server);
    expect(sample(before, 'hookstream_websocket_connections{endpoint="/logs/ws"}')).toBe(2);
    expect(sample(before, "hookstream_log_subscribers")).toBe(2);
    expect(sample(before, "hookstream_log_topics")).toBe(2);

    // A line that does not parse continues the entry before it; at the start of a file it stands alone.
    append(server, "raw.log", "not a log line at all\n");
    append(server, "app.log", textLine({ seq: 1 }) + textLine({ seq: 2, level: "ERROR" }));
    append(server, "webhooks_2026-11-23.json", `${jsonLine({ seq: 3 })}{not json\n`);
    await all.take(5);
    expect(JSON.parse(await errorsOnly.next()).message).toBe("msg 2");

    const after = await scrapeUntil(
      server,
      (s) => sample(s, "hookstream_log_entries_streamed_total") === 5,
      "five entries streamed",
    );
    const delta = (key: string) => sample(after, key) - sample(before, key);
    expect(delta('hookstream_log_entries_read_total{format="text"}')).toBe(3);
    expect(delta('hookstream_log_entries_unparsed_total{format="text"}')).toBe(1);
    expect(delta('hookstream_log_entries_parsed_total{format="text"}')).toBe(2);
    expect(delta('hookstream_log_entries_read_total{format="json"}')).toBe(2);
    expect(delta('hookstream_log_entries_unparsed_total{format="json"}')).toBe(1);
    // Five entries to the unfiltered client, one to the ERROR client.
    expect(delta('hookstream_messages_sent_total{endpoint="/logs/ws"}')).toBe(6);
    expect(delta('hookstream_sent_bytes_total{endpoint="/logs/ws"}')).toBeGreaterThan(6 * 100);
    expect(delta("hookstream_journal_next_position")).toBe(5);
    expect(delta("hookstream_journal_bytes")).toBeGreaterThan(5 * 100);

    errorsOnly.close();
    await errorsOnly.closed;
    const closed = await scrapeUntil(
      server,
      (s) => sample(s, 'hookstream_websocket_connections{endpoint="/logs/ws"}') === 1,
      "one connection left",
    );
    expect(sample(closed, "hookstream_log_topics")).toBe(1);
    all.close();
  });

  test("a cursor the journal does not know is reported as a gap", async () => {
    await using server = await startTestServer();
    const client = await connectLogs(server, "cursor=00000000-1");
    expect(JSON.parse(await client.next()).control).toBe("gap");
    const scraped = await scrape(server);
    expect(sample(scraped, 'hookstream_gaps_reported_total{endpoint="/logs/ws"}')).toBe(1);
    client.close();
  });
});

describe("log file counters", () => {
  test("count rotations, truncations and the pairing of the processor's twin records", async () => {
    await using server = await startTestServer();
    const client = await connectLogs(server);
    append(server, "app.log", textLine({ seq: 1 }));
    await client.next();
    renameSync(join(server.logDir, "app.log"), join(server.logDir, "app.log.1"));
    append(server, "app.log", textLine({ seq: 2, repository: "org/a-repository-with-a-long-name" }));
    await client.next();
    // Shorter than what was read: the follower sees the size drop below its position.
    truncateSync(join(server.logDir, "app.log"), 0);
    append(server, "app.log", textLine({ seq: 3 }));
    await client.next();
    const scraped = await scrape(server);
    expect(sample(scraped, "hookstream_log_rotations_total")).toBe(1);
    expect(sample(scraped, "hookstream_log_truncations_total")).toBe(1);

    // 96 records written twice (text and JSON) and 3 JSON-only summaries: 99 entries streamed.
    const before = await scrape(server);
    const fixture = join(import.meta.dir, "../fixtures/gws-twins");
    for (const name of ["webhook-server.log", "webhooks_2026-12-02.json"])
      append(server, name, readFileSync(join(fixture, name)));
    const paired = (s: Scrape) =>
      sample(s, 'hookstream_log_twins_total{outcome="merged"}') +
      sample(s, 'hookstream_log_twins_total{outcome="late_dropped"}');
    const after = await scrapeUntil(server, (s) => paired(s) === 96, "96 twins paired");
    const delta = (key: string) => sample(after, key) - sample(before, key);
    expect(delta('hookstream_log_entries_read_total{format="text"}')).toBe(96);
    expect(delta('hookstream_log_entries_read_total{format="json"}')).toBe(99);
    await waitFor(
      async () =>
        sample(await scrape(server), "hookstream_log_entries_streamed_total") -
          sample(before, "hookstream_log_entries_streamed_total") ===
        99,
      5000,
      "99 entries streamed",
    );
    expect(sample(after, 'hookstream_log_twins_total{outcome="never_came"}')).toBe(0);
    client.close();
  });
});

describe("relay counters", () => {
  test("count accepted, de-duplicated and rejected webhooks, relayed messages, commits and auth failures", async () => {
    await using server = await startTestServer({ env: { MAX_BODY_BYTES: "1024" } });
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("metrics");
    const input = (bucket.inputs[0] as { id: string }).id;
    const subscriber = await relay.subscribed(relay.admin);
    const before = await scrape(server);
    expect(sample(before, 'hookstream_websocket_connections{endpoint="/v1/socket"}')).toBe(1);

    const delivery = { headers: { "X-GitHub-Delivery": "d-1", "Content-Type": "application/json" } };
    expect((await relay.post(input, '{"n":1}', delivery)).status).toBe(200);
    expect((await relay.post(input, '{"n":1}', delivery)).status).toBe(200);
    expect((await relay.post(input, '{"n":2}')).status).toBe(200);
    expect((await relay.post("no-such-input", "{}")).status).toBe(404);
    expect((await relay.post(input, "x".repeat(2048))).status).toBe(413);
    expect(
      (await relay.api("GET", "/v1/buckets", undefined, { key: relay.admin.key, secret: "wrong" })).status,
    ).toBe(401);
    expect((await relay.api("GET", "/v1/tokens", undefined, null)).status).toBe(401);
    for (let i = 0; i < 2; i++) expect(JSON.parse(await subscriber.next()).type).toBe("webhook");

    const after = await scrape(server);
    const delta = (key: string) => sample(after, key) - sample(before, key);
    expect(delta("hookstream_webhooks_accepted_total")).toBe(2);
    expect(delta("hookstream_webhooks_deduplicated_total")).toBe(1);
    expect(delta('hookstream_webhooks_rejected_total{reason="unknown_input"}')).toBe(1);
    expect(delta('hookstream_webhooks_rejected_total{reason="too_large"}')).toBe(1);
    expect(delta('hookstream_webhooks_rejected_total{reason="bad_signature"}')).toBe(0);
    expect(delta('hookstream_messages_sent_total{endpoint="/v1/socket"}')).toBe(2);
    // Each delivery is also a log entry; nobody listens on /logs/ws, so nothing was sent there.
    expect(delta('hookstream_messages_sent_total{endpoint="/logs/ws"}')).toBe(0);
    expect(delta("hookstream_store_commit_duration_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'hookstream_store_commit_duration_seconds_bucket{le="+Inf"}')).toBe(
      sample(after, "hookstream_store_commit_duration_seconds_count"),
    );
    expect(sample(after, "hookstream_store_commit_duration_seconds_sum")).toBeGreaterThan(0);
    expect(sample(after, 'hookstream_auth_failures_total{endpoint="/v1/admin"}')).toBe(2);

    const refused = await wsConnect(server.wsUrl("/v1/socket"));
    refused.send(JSON.stringify({ action: "auth", key: relay.admin.key, secret: "wrong" }));
    expect((await refused.closed).code).toBe(4001);
    expect(sample(await scrape(server), 'hookstream_auth_failures_total{endpoint="/v1/socket"}')).toBe(1);
    subscriber.close();
  });
});

describe("access to /metrics", () => {
  test("with METRICS_TOKEN, only the bearer of it is answered, and failures are counted", async () => {
    await using server = await startTestServer({ env: { METRICS_TOKEN } });
    expect((await fetch(server.httpUrl("/metrics"))).status).toBe(401);
    const wrong = await fetch(server.httpUrl("/metrics"), {
      headers: { Authorization: "Bearer nope-nope-nope-nope" },
    });
    expect(wrong.status).toBe(401);
    const scraped = await scrape(server, { Authorization: `Bearer ${METRICS_TOKEN}` });
    expect(sample(scraped, 'hookstream_auth_failures_total{endpoint="/metrics"}')).toBe(2);
    expect(sample(scraped, `hookstream_build_info{version="0.1.0",bun="${Bun.version}"}`)).toBe(1);
  });

  test("failed tokens are rate-limited per address", async () => {
    await using server = await startTestServer({
      env: { METRICS_TOKEN, RELAY_AUTH_FAILURES_PER_MINUTE: "2" },
    });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(server.httpUrl("/metrics"))).status);
    expect(statuses).toEqual([401, 401, 429]);
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((address) => address?.family === "IPv4" && !address.internal)?.address;
  test.skipIf(external === undefined)(
    "without a token, a client that is not on loopback is refused",
    async () => {
      await using server = await startTestServer({ env: { HOST: "0.0.0.0" } });
      expect((await fetch(server.httpUrl("/metrics"))).status).toBe(200);
      const remote = await fetch(`http://${external}:${server.server.port}/metrics`);
      expect(remote.status).toBe(403);
    },
  );
});

describe.skipIf(!redisAvailable)("cluster counters", () => {
  test("report Redis up and down, the lease holder and the mirror's lag", async () => {
    await using redis = await startRedis();
    await using server = await startInstance(redis, uniquePrefix());
    const health = (await (await fetch(server.httpUrl("/health"))).json()) as {
      cluster: { instance: string };
    };
    const instance = health.cluster.instance;
    const up = await scrapeUntil(
      server,
      (s) => s.get(`hookstream_cluster_lease_holder{instance="${instance}"}`) === 1,
      "this instance holding the lease",
    );
    expect(sample(up, "hookstream_redis_up")).toBe(1);
    expect(sample(up, "hookstream_cluster_writer")).toBe(1);

    const client = await connectLogs(server);
    append(server, "app.log", textLine({ seq: 1 }));
    await client.next();
    const mirrored = await scrape(server);
    expect(sample(mirrored, "hookstream_cluster_mirror_lag_entries")).toBe(0);
    expect(sample(mirrored, 'hookstream_messages_sent_total{endpoint="/logs/ws"}')).toBe(1);

    await redis.stop();
    await scrapeUntil(server, (s) => sample(s, "hookstream_redis_up") === 0, "Redis reported down");
    await redis.start();
    await scrapeUntil(server, (s) => sample(s, "hookstream_redis_up") === 1, "Redis reported up again");
    client.close();
  }, 30_000);
});
