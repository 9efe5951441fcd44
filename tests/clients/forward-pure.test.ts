import { describe, expect, test } from "bun:test";
import type { DeliveryOutcome } from "../../src/clients/deliver.ts";
import { createDeliveryQueue } from "../../src/clients/delivery-queue.ts";
import { UsageError } from "../../src/clients/exit-codes.ts";
import { parseForwardArgs } from "../../src/clients/forward-args.ts";
import {
  destinationOf,
  reconnectWaitMs,
  reportLine,
  servesMessage,
} from "../../src/clients/forward-rules.ts";
import { parseServerFrame, socketUrl, type WebhookFrame } from "../../src/clients/relay-frames.ts";
import { backoffMs, RETRY_CAP_MS } from "../../src/relay/http-attempt.ts";
import { targetRequest } from "../../src/relay/target-request.ts";

const env = { RELAY_KEY: "k", RELAY_SECRET: "s" };

describe("forward flags", () => {
  const cases: Array<[string, string[], Record<string, string>, Record<string, unknown> | string]> = [
    [
      "the defaults apply when only the target is named",
      ["--target", "http://localhost:3000/hook"],
      env,
      {
        server: "http://localhost:5000/",
        buckets: null,
        events: null,
        concurrency: 8,
        ordered: false,
        maxAttempts: 8,
        timeoutMs: 30_000,
        json: false,
      },
    ],
    [
      "buckets come from BUCKETS when no flag names them",
      ["-t", "http://a/"],
      { ...env, BUCKETS: "a, b" },
      { buckets: ["a", "b"] },
    ],
    [
      "--buckets wins over BUCKETS",
      ["-t", "http://a/", "--buckets", "c"],
      { ...env, BUCKETS: "a" },
      { buckets: ["c"] },
    ],
    ["buckets may be named as arguments", ["-t", "http://a/", "x", "y"], env, { buckets: ["x", "y"] }],
    [
      "an empty --buckets means every bucket",
      ["-t", "http://a/", "--buckets", ""],
      { ...env, BUCKETS: "a" },
      { buckets: null },
    ],
    [
      "events are matched without regard to case",
      ["-t", "http://a/", "--events", "Push,pull_request"],
      env,
      { events: new Set(["push", "pull_request"]) },
    ],
    [
      "--ordered, --json and numbers are read",
      [
        "-t",
        "http://a/",
        "--ordered",
        "--json",
        "--concurrency",
        "2",
        "--max-attempts",
        "3",
        "--timeout",
        "5",
      ],
      env,
      { ordered: true, json: true, concurrency: 2, maxAttempts: 3, timeoutMs: 5000 },
    ],
    ["a missing target and output is refused", [], env, "--target or --output is required"],
    [
      "an output alone takes its destination from the messages",
      ["-o", "laptop"],
      env,
      { target: null, output: "laptop" },
    ],
    ["a target that is not http is refused", ["-t", "ftp://a/"], env, "--target must be an http"],
    ["a missing secret is refused", ["-t", "http://a/"], { RELAY_KEY: "k" }, "RELAY_KEY and RELAY_SECRET"],
    ["--max-held is read", ["-t", "http://a/", "--max-held", "10"], env, { maxHeld: 10 }],
    [
      "a --max-held under two is refused",
      ["-t", "http://a/", "--max-held", "1"],
      env,
      "--max-held must be an integer from 2",
    ],
    [
      "a concurrency of zero is refused",
      ["-t", "http://a/", "--concurrency", "0"],
      env,
      "--concurrency must be an integer from 1",
    ],
    ["an unknown flag is refused", ["-t", "http://a/", "--nope"], env, "Unknown option"],
    [
      "buckets named both ways are refused",
      ["-t", "http://a/", "--buckets", "a", "b"],
      env,
      "either with --buckets",
    ],
  ];
  for (const [name, argv, environment, expected] of cases)
    test(name, () => {
      if (typeof expected === "string") {
        expect(() => parseForwardArgs(argv, environment, "/home/u")).toThrow(UsageError);
        expect(() => parseForwardArgs(argv, environment, "/home/u")).toThrow(expected);
      } else expect(parseForwardArgs(argv, environment, "/home/u")).toMatchObject(expected);
    });

  test("the cursor file depends on server, buckets and target, and lives under the state directory", () => {
    const a = parseForwardArgs(["-t", "http://a/", "--buckets", "x,y"], env, "/home/u");
    const b = parseForwardArgs(["-t", "http://a/", "--buckets", "y,x"], env, "/home/u");
    const c = parseForwardArgs(["-t", "http://b/", "--buckets", "x,y"], env, "/home/u");
    const d = parseForwardArgs(["-t", "http://a/"], { ...env, XDG_STATE_HOME: "/state" }, "/home/u");
    expect(a?.cursorFile).toStartWith("/home/u/.local/state/hookstream/forward-");
    expect(a?.cursorFile).toBe(b?.cursorFile as string);
    expect(a?.cursorFile).not.toBe(c?.cursorFile as string);
    expect(d?.cursorFile).toStartWith("/state/hookstream/");
  });

  test("--help asks for the usage text", () => {
    expect(parseForwardArgs(["--help"], {}, "/home/u")).toBeNull();
  });
});

describe("server frames", () => {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    [
      "a status is read with its message",
      '{"type":"status","status":"ping"}',
      { kind: "status", status: "ping", message: "" },
    ],
    ["text that is not JSON is reported, not thrown", "{nope", { kind: "invalid" }],
    ["a webhook without meta is reported", '{"type":"webhook","headers":{},"body":""}', { kind: "invalid" }],
    ["an unknown type is reported", '{"type":"other"}', { kind: "invalid" }],
  ];
  for (const [name, text, expected] of cases)
    test(name, () => expect(parseServerFrame(text)).toMatchObject(expected));

  test("a base64 body is decoded to its bytes and a replay names its original", () => {
    const frame = parseServerFrame(
      JSON.stringify({
        type: "webhook",
        meta: { id: "7", bucked_id: "b", bucket_name: "n", input_id: "i" },
        cursor: "0a0b0c0d-7",
        replay: { of: "3" },
        headers: { "X-Github-Event": ["push"] },
        query: "a=1",
        body: Buffer.from([0xff, 0x00, 0x80]).toString("base64"),
        body_encoding: "base64",
        method: "PUT",
      }),
    );
    expect(frame.kind).toBe("webhook");
    if (frame.kind !== "webhook") return;
    expect([...frame.webhook.body]).toEqual([0xff, 0x00, 0x80]);
    expect(frame.webhook).toMatchObject({
      id: "7",
      bucketId: "b",
      cursor: "0a0b0c0d-7",
      replayOf: "3",
      method: "PUT",
    });
  });

  const urls: Array<[string, string, string]> = [
    ["http becomes ws and the socket path is appended", "http://h:5000", "ws://h:5000/v1/socket"],
    ["https becomes wss behind a path prefix", "https://h/relay/", "wss://h/relay/v1/socket"],
    ["a URL that already names the socket is kept", "ws://h/v1/socket", "ws://h/v1/socket"],
  ];
  for (const [name, server, expected] of urls)
    test(name, () => expect(socketUrl(server, "/v1/socket").href).toBe(expected));
});

const webhook = (overrides: Partial<WebhookFrame> = {}): WebhookFrame => ({
  id: "1",
  bucketId: "b1",
  bucketName: "one",
  inputId: "i",
  cursor: "c-1",
  method: "POST",
  headers: {},
  query: "",
  outputName: "",
  outputDestination: "",
  passthroughMs: null,
  body: new Uint8Array(),
  replayOf: null,
  ...overrides,
});

describe("the request to the target", () => {
  test("hop-by-hop headers, those named by Connection, Host and Content-Length are dropped; others keep every value", () => {
    const request = targetRequest(
      new URL("http://localhost:3000/hook"),
      webhook({
        headers: {
          Connection: ["keep-alive, X-Private"],
          "X-Private": ["1"],
          "Transfer-Encoding": ["chunked"],
          "Content-Length": ["999"],
          "Keep-Alive": ["timeout=5"],
          "X-Hub-Signature-256": ["sha256=ab"],
          "X-Multi": ["a", "b"],
        },
      }),
    );
    expect([...request.headers.keys()].sort()).toEqual(["x-hub-signature-256", "x-multi"]);
    expect(request.headers.get("x-multi")).toBe("a, b");
  });

  const queries: Array<[string, string, string, string]> = [
    ["the original query is appended to the target's path", "http://h/hook", "a=1&b=2", "/hook?a=1&b=2"],
    ["a target with its own query keeps it first", "http://h/hook?x=y", "a=1", "/hook?x=y&a=1"],
    ["no query leaves the target as it is", "http://h/hook", "", "/hook"],
  ];
  for (const [name, target, query, path] of queries)
    test(name, () => expect(targetRequest(new URL(target), webhook({ query })).path).toBe(path));

  test("GET is sent without a body, other methods with the exact bytes", () => {
    const body = new Uint8Array([1, 2, 3]);
    expect(targetRequest(new URL("http://h/"), webhook({ method: "get", body })).body).toBeNull();
    expect(targetRequest(new URL("http://h/"), webhook({ method: "PATCH", body })).body).toBe(body);
  });
});

describe("retry pauses", () => {
  const cases: Array<[string, number, number, number]> = [
    ["the first pause is about a quarter second", 1, 0.5, 250],
    ["pauses double", 3, 0.5, 1000],
    ["pauses stop growing at the cap", 30, 0.5, RETRY_CAP_MS],
    ["the spread stays within a fifth either way", 1, 0, 200],
  ];
  for (const [name, attempt, random, expected] of cases)
    test(name, () => expect(backoffMs(attempt, random)).toBe(expected));
});

describe("the delivery queue", () => {
  const limits = { concurrency: 2, ordered: false, maxEntries: 4, maxBytes: 1 << 20 };
  const ids = (frames: WebhookFrame[]) => frames.map((f) => f.id);

  test("the saved cursor moves only over a finished prefix", () => {
    const queue = createDeliveryQueue(limits);
    for (const id of ["1", "2", "3"]) queue.add(webhook({ id, cursor: `c-${id}` }));
    expect(ids(queue.take())).toEqual(["1", "2"]);
    expect(queue.finish("2")).toBeNull();
    expect(ids(queue.take())).toEqual(["3"]);
    expect(queue.finish("1")).toBe("c-2");
    expect(queue.finish("3")).toBe("c-3");
    expect(queue.size()).toBe(0);
  });

  test("a delivery sent again after a reconnect is recognised and not queued twice", () => {
    const queue = createDeliveryQueue(limits);
    expect(queue.add(webhook({ id: "1" }))).toBe("added");
    expect(queue.add(webhook({ id: "1" }))).toBe("known");
  });

  test("past the limit nothing more is taken, and reading resumes once under half", () => {
    const queue = createDeliveryQueue(limits);
    for (const id of ["1", "2", "3", "4"]) expect(queue.add(webhook({ id }))).toBe("added");
    expect(queue.add(webhook({ id: "5" }))).toBe("full");
    queue.take();
    queue.finish("1");
    expect(queue.hasRoom()).toBe(false);
    queue.finish("2");
    queue.take();
    queue.finish("3");
    expect(queue.hasRoom()).toBe(true);
  });

  test("a body larger than the byte limit is still taken when nothing else is held", () => {
    const queue = createDeliveryQueue({ ...limits, maxBytes: 2 });
    expect(queue.add(webhook({ id: "1", body: new Uint8Array(10) }))).toBe("added");
    expect(queue.add(webhook({ id: "2" }))).toBe("full");
  });

  test("ordered: one request per bucket at a time, other buckets go ahead", () => {
    const queue = createDeliveryQueue({ ...limits, concurrency: 4, ordered: true });
    queue.add(webhook({ id: "1", bucketId: "a" }));
    queue.add(webhook({ id: "2", bucketId: "a" }));
    queue.add(webhook({ id: "3", bucketId: "b" }));
    expect(ids(queue.take())).toEqual(["1", "3"]);
    expect(ids(queue.take())).toEqual([]);
    queue.finish("1");
    expect(ids(queue.take())).toEqual(["2"]);
  });

  test("a filtered delivery is finished without being started", () => {
    const queue = createDeliveryQueue(limits);
    queue.add(webhook({ id: "1", cursor: "c-1" }));
    expect(queue.finish("1")).toBe("c-1");
    expect(queue.running()).toBe(0);
    expect(ids(queue.take())).toEqual([]);
  });
});

describe("which socket messages the forwarder serves", () => {
  const cases: Array<[string, Partial<WebhookFrame>, string | null, string | null, boolean]> = [
    ["without --output, a delivery's first message is served", { id: "7" }, null, "6", true],
    [
      "without --output, the same delivery's message for its next output is not served again",
      { id: "7", outputName: "b" },
      null,
      "7",
      false,
    ],
    ["with --output, only that output's message is served", { id: "7", outputName: "a" }, "a", "7", true],
    ["with --output, another output's message is passed over", { id: "8", outputName: "b" }, "a", "7", false],
  ];
  for (const [name, frame, output, previousId, expected] of cases)
    test(name, () => expect(servesMessage(webhook(frame), output, previousId)).toBe(expected));
});

describe("where a webhook goes", () => {
  const target = new URL("http://localhost:3000/hook");
  const cases: Array<[string, URL | null, string, string]> = [
    [
      "--target wins over the output's destination",
      target,
      "http://elsewhere/",
      "http://localhost:3000/hook",
    ],
    [
      "without --target, an http(s) destination is used",
      null,
      "https://example.test/in",
      "https://example.test/in",
    ],
    [
      "a destination that is not http(s) is refused with the reason",
      null,
      "ftp://example.test/",
      'output a has no http(s) destination: "ftp://example.test/"',
    ],
    [
      "a destination that is no URL is refused with the reason",
      null,
      "nope",
      'output a has no http(s) destination: "nope"',
    ],
  ];
  for (const [name, chosen, destination, expected] of cases)
    test(name, () => {
      const result = destinationOf(webhook({ outputName: "a", outputDestination: destination }), chosen);
      expect(typeof result === "string" ? result : result.href).toBe(expected);
    });
});

describe("reconnect pauses", () => {
  const cases: Array<[string, number, number]> = [
    ["the first failed connection waits half a second", 1, 500],
    ["each further failure doubles the wait", 3, 2000],
    ["the wait stops growing at half a minute", 12, 30_000],
  ];
  for (const [name, failures, expected] of cases)
    test(name, () => expect(reconnectWaitMs(failures)).toBe(expected));
});

describe("the line reported for a finished delivery", () => {
  const outcome = (overrides: Partial<DeliveryOutcome> = {}): DeliveryOutcome => ({
    status: 200,
    error: null,
    attempts: 1,
    durationMs: 12,
    answered: true,
    headers: new Headers(),
    body: new Uint8Array(),
    ...overrides,
  });
  const time = "2026-01-01T00:00:00.000Z";
  const cases: Array<[string, Partial<WebhookFrame>, Partial<DeliveryOutcome>, boolean, string]> = [
    [
      "an answered delivery: time, method, path, status and duration",
      {},
      {},
      false,
      `${time} POST /hook 200 12ms`,
    ],
    [
      "a replay names its original",
      { replayOf: "3" },
      {},
      false,
      `${time} POST /hook 200 12ms (replay of 3)`,
    ],
    [
      "a delivery given up on says after how many attempts and why",
      { id: "9" },
      { answered: false, status: null, attempts: 4, error: "timeout" },
      false,
      `${time} POST /hook gave up after 4 attempts: timeout (delivery 9)`,
    ],
    [
      "--json: one object with the GitHub event, and the error of a delivery given up on",
      { headers: { "X-GitHub-Event": ["push"] } },
      { answered: false, status: 502, attempts: 2, error: "502" },
      true,
      JSON.stringify({
        time,
        id: "1",
        bucket: "one",
        method: "POST",
        path: "/hook",
        status: 502,
        duration_ms: 12,
        attempts: 2,
        event: "push",
        gave_up: true,
        error: "502",
      }),
    ],
  ];
  for (const [name, frame, result, json, expected] of cases)
    test(name, () =>
      expect(reportLine(webhook(frame), "/hook", outcome(result), { json, time })).toBe(expected),
    );
});
