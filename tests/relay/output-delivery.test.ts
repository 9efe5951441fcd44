/**
 * Outputs hookstream delivers itself, through the real server and real local targets: the exact request
 * arrives and its GitHub signature verifies; a target that is down is retried until it is up; the pending
 * attempt survives a restart of the server; the outcome shows in /logs/api/deliveries. Plus the pure rule
 * that settles an attempt after each request.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sign, verify } from "@octokit/webhooks-methods";
import {
  BACKOFF_CAP_MS,
  MAX_ATTEMPTS,
  SAFETY_NET_POLL_MS,
  settle,
  sleepAfterClaim,
} from "../../src/relay/outputs/dispatcher.ts";
import type { OutputAttempt } from "../../src/relay/store.ts";
import { type RelayFixture, relayFixture } from "../helpers/relay.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type Received, startTarget } from "../helpers/target.ts";
import { waitFor } from "../helpers/ws.ts";

const SECRET = "It's a Secret to Everybody";

interface Outcome {
  name: string;
  destination: string;
  state: string;
  attempts: number;
  status: number | null;
  error: string | null;
  response_body: string;
}

async function outcomes(server: TestServer, bucket: string): Promise<Outcome[][]> {
  const answer = (await (await fetch(server.httpUrl(`/logs/api/deliveries?bucket=${bucket}`))).json()) as {
    deliveries: Array<{ outputs?: Outcome[] }>;
  };
  return answer.deliveries.map((d) => d.outputs ?? []);
}

async function addOutput(relay: RelayFixture, bucket: string, name: string, destination: string) {
  const response = await relay.api("POST", `/v1/buckets/${bucket}/outputs`, { name, destination });
  expect(response.status).toBe(201);
}

/** A port nothing listens on right now, and that a target can listen on later. */
function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

describe("outputs delivered by hookstream", () => {
  test("the exact request reaches the destination, its signature verifies, and the outcome is recorded", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    using target = startTarget(() => new Response("thanks", { status: 202 }));
    using second = startTarget();
    const bucket = await relay.createBucket("shop");
    await addOutput(relay, "shop", "ci", target.url("/hooks/ci?team=a"));
    await addOutput(relay, "shop", "audit", second.url("/audit"));
    const body = JSON.stringify({ action: "opened", note: "ünïcode ✓", n: 1.0 }).replace("1", "1.0");
    const sent = await relay.post(bucket.inputs[0]?.id ?? "", body, {
      method: "PUT",
      query: "x=1&y=%20",
      headers: {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": crypto.randomUUID(),
        "X-Hub-Signature-256": await sign(SECRET, body),
        Connection: "keep-alive, X-Drop-Me",
        "X-Drop-Me": "hop",
      },
    });
    expect(sent.status).toBe(200);
    await waitFor(() => target.received.length === 1 && second.received.length === 1, 5000, "both delivered");
    const received = target.received[0] as Received;
    expect(received.method).toBe("PUT");
    expect(received.url.pathname).toBe("/hooks/ci");
    expect(received.url.search).toBe("?team=a&x=1&y=%20");
    expect(new TextDecoder().decode(received.body)).toBe(body);
    expect(received.headers.get("x-github-event")).toBe("pull_request");
    expect(received.headers.get("x-drop-me")).toBeNull();
    expect(received.headers.get("content-length")).toBe(String(Buffer.byteLength(body)));
    const signature = received.headers.get("x-hub-signature-256") as string;
    expect(await verify(SECRET, new TextDecoder().decode(received.body), signature)).toBe(true);
    await waitFor(
      async () => (await outcomes(server, "shop"))[0]?.every((o) => o.state === "delivered") === true,
      5000,
      "outcomes recorded",
    );
    const [shown] = await outcomes(server, "shop");
    expect(shown?.find((o) => o.name === "ci")).toMatchObject({
      destination: target.url("/hooks/ci?team=a"),
      state: "delivered",
      attempts: 1,
      status: 202,
      error: null,
      response_body: "thanks",
    });
    expect(shown?.find((o) => o.name === "audit")).toMatchObject({ state: "delivered", status: 200 });
    // Exactly once each: a sentinel delivery to another bucket without outputs reaches neither target.
    const quiet = await relay.createBucket("quiet");
    await relay.post(quiet.inputs[0]?.id ?? "", "nothing to deliver");
    const health = (await (await fetch(server.httpUrl("/health"))).json()) as {
      relay: { outputs: { delivered: number; in_flight: number } };
    };
    expect(health.relay.outputs).toMatchObject({ delivered: 2, in_flight: 0 });
    expect(target.received).toHaveLength(1);
    expect(second.received).toHaveLength(1);
  });

  test("a destination that is down is retried until it is up, and the outcome says so meanwhile", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const port = freePort();
    const bucket = await relay.createBucket("shop");
    await addOutput(relay, "shop", "app", `http://127.0.0.1:${port}/hook`);
    expect((await relay.post(bucket.inputs[0]?.id ?? "", "while down")).status).toBe(200);
    await waitFor(
      async () => ((await outcomes(server, "shop"))[0]?.[0]?.attempts ?? 0) >= 1,
      5000,
      "first attempt failed",
    );
    const pending = (await outcomes(server, "shop"))[0]?.[0];
    expect(pending).toMatchObject({ state: "pending", status: null });
    expect(pending?.error).toBeString();
    using target = startTarget(() => new Response("up"), port);
    await waitFor(() => target.received.length === 1, 10_000, "delivered once up");
    expect(target.texts()).toEqual(["while down"]);
    await waitFor(
      async () => (await outcomes(server, "shop"))[0]?.[0]?.state === "delivered",
      5000,
      "recorded as delivered",
    );
    const done = (await outcomes(server, "shop"))[0]?.[0];
    expect(done?.attempts).toBeGreaterThanOrEqual(2);
    expect(done).toMatchObject({ status: 200, error: null, response_body: "up" });
  });

  test("a pending delivery survives a restart of the server and is delivered after it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hookstream-outputs-restart-"));
    try {
      const port = freePort();
      {
        await using server = await startTestServer({ dataDir, keepDataDir: true });
        await using relay = await relayFixture(server);
        const bucket = await relay.createBucket("shop");
        await addOutput(relay, "shop", "app", `http://127.0.0.1:${port}/hook`);
        expect((await relay.post(bucket.inputs[0]?.id ?? "", "kept across restarts")).status).toBe(200);
        await waitFor(
          async () => ((await outcomes(server, "shop"))[0]?.[0]?.attempts ?? 0) >= 1,
          5000,
          "first attempt failed",
        );
      }
      using target = startTarget(() => new Response("ok"), port);
      await using server = await startTestServer({ dataDir });
      await waitFor(() => target.received.length === 1, 10_000, "delivered after the restart");
      expect(target.texts()).toEqual(["kept across restarts"]);
      await waitFor(
        async () => (await outcomes(server, "shop"))[0]?.[0]?.state === "delivered",
        5000,
        "recorded",
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("settling an attempt after a request", () => {
  const attempt: OutputAttempt = {
    deliveryId: "1",
    outputId: "o",
    outputName: "ci",
    destination: "http://127.0.0.1:9/",
    state: "pending",
    attempts: 0,
    nextAt: 0,
    status: null,
    error: null,
    responseBody: "",
    updatedAt: 0,
  };
  const body = new TextEncoder().encode("answer");
  const cases: Array<[string, Partial<OutputAttempt>, number | null, string | null, Partial<OutputAttempt>]> =
    [
      ["a 2xx answer is delivered", {}, 204, null, { state: "delivered", attempts: 1, nextAt: null }],
      [
        "a 4xx answer is the app's verdict: failed, not retried",
        {},
        404,
        null,
        { state: "failed", nextAt: null, error: "HTTP 404" },
      ],
      ["a redirect is not followed: failed", {}, 301, null, { state: "failed", nextAt: null }],
      [
        "a 5xx answer is tried again later",
        {},
        503,
        "HTTP 503",
        { state: "pending", attempts: 1, error: "HTTP 503" },
      ],
      ["no answer is tried again later", {}, null, "connection refused", { state: "pending", status: null }],
      [
        "the last allowed try that fails is failed",
        { attempts: MAX_ATTEMPTS - 1 },
        500,
        "HTTP 500",
        { state: "failed", attempts: MAX_ATTEMPTS, nextAt: null },
      ],
    ];
  for (const [name, before, status, error, expected] of cases)
    test(name, () => {
      const next = settle({ ...attempt, ...before }, { status, error, body }, 1000, 0.5);
      expect(next).toMatchObject({ ...expected, status, responseBody: "answer", updatedAt: 1000 });
      if (next.state === "pending") expect(next.nextAt).toBeGreaterThan(1000);
    });

  test("the pause between tries grows and stays under the cap", () => {
    const pauses = [1, 3, 5, MAX_ATTEMPTS - 1].map(
      (n) => settle({ ...attempt, attempts: n - 1 }, { status: null, error: "x", body }, 0, 0.99).nextAt ?? 0,
    );
    expect(pauses[1]).toBeGreaterThan(pauses[0] ?? 0);
    for (const pause of pauses) expect(pause).toBeLessThanOrEqual(BACKOFF_CAP_MS * 1.2);
    expect(pauses[3]).toBeGreaterThanOrEqual(BACKOFF_CAP_MS * 0.8);
  });
});

describe("how long the dispatcher sleeps after a claim round", () => {
  const cases: Array<[string, number | null, number]> = [
    ["nothing pending: until the safety-net poll", null, SAFETY_NET_POLL_MS],
    ["a retry due in 3 s: until then", 1_003_000, 3_000],
    [
      "a lease ending after the safety net: only until the safety net",
      1_000_000 + 5 * 60_000,
      SAFETY_NET_POLL_MS,
    ],
    ["an attempt reported due already: a short pause, not a loop", 999_000, 50],
  ];
  for (const [name, nextAt, expected] of cases)
    test(name, () => expect(sleepAfterClaim(nextAt, 1_000_000, SAFETY_NET_POLL_MS)).toBe(expected));
});
