/**
 * Table tests for the relay's pure pieces.
 */
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { createByteBudget } from "../../src/relay/byte-budget.ts";
import {
  epochCursors,
  looksLikeCursor,
  type ParsedCursor,
  streamCursors,
  streamPosition,
} from "../../src/relay/cursor.ts";
import { deliveryLogEntry, pullRequestNumber } from "../../src/relay/delivery-log.ts";
import { canonicalHeaderName, collectHeaders } from "../../src/relay/headers.ts";
import { rawQuery } from "../../src/relay/input.ts";
import {
  bodyMembers,
  encodeBody,
  type OutputRef,
  type RelayedDelivery,
  webhookMessage,
  webhookMessages,
} from "../../src/relay/message.ts";
import { githubSignature, verifyGithubSignature } from "../../src/relay/signature.ts";
import { generateToken, hashSecret, parseAuthorization, secretMatches } from "../../src/relay/tokens.ts";
import { createAuthLimiter } from "../../src/transport/auth-limiter.ts";

describe("canonicalHeaderName", () => {
  const cases: Array<[string, string, string]> = [
    ["a lower-case name gets each dash-separated word capitalised", "content-type", "Content-Type"],
    ["GitHub's mixed case becomes Go's form", "X-GitHub-Event", "X-Github-Event"],
    ["digits stay as they are", "x-hub-signature-256", "X-Hub-Signature-256"],
    ["an all-caps word is lowered after its first letter", "X-REQUEST-ID", "X-Request-Id"],
    ["a single word", "accept", "Accept"],
    ["a leading dash keeps the next letter upper case", "-foo", "-Foo"],
    ["underscores do not start a word", "x_custom_header", "X_custom_header"],
    ["a name with a space is left unchanged, as Go does", "bad name", "bad name"],
    ["a name with a colon is left unchanged", "a:b", "a:b"],
  ];
  for (const [name, input, expected] of cases)
    test(name, () => expect(canonicalHeaderName(input)).toBe(expected));

  test("collectHeaders maps names to value lists and leaves Host out", () => {
    const headers = new Headers({ host: "relay", "x-github-delivery": "abc", accept: "*/*" });
    expect(collectHeaders(headers)).toEqual({ "X-Github-Delivery": ["abc"], Accept: ["*/*"] });
  });
});

describe("GitHub signature", () => {
  const secret = "It's a Secret to Everybody";
  const body = new TextEncoder().encode("Hello, World!");
  const good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

  test("the published test vector", () => expect(githubSignature(secret, body)).toBe(good));

  const cases: Array<[string, string | null, boolean]> = [
    ["the right signature passes", good, true],
    ["upper-case hex passes (hex digits compare by value)", `sha256=${good.slice(7).toUpperCase()}`, true],
    ["a missing header fails", null, false],
    ["one wrong digit fails", good.replace(/e17$/, "e18"), false],
    ["a sha1 header fails", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d", false],
    ["a truncated digest fails", good.slice(0, -2), false],
    ["an over-long digest fails", `${good}00`, false],
    ["non-hex characters fail", `sha256=${"z".repeat(64)}`, false],
    ["an empty header fails", "", false],
  ];
  for (const [name, header, expected] of cases)
    test(name, () => expect(verifyGithubSignature(secret, body, header)).toBe(expected));

  // node:crypto as the reference: GitHub's documented HMAC-SHA256 of the raw bytes with the UTF-8 secret.
  const reference = (key: string, bytes: Uint8Array) =>
    `sha256=${createHmac("sha256", key).update(bytes).digest("hex")}`;
  const signed: Array<[string, string, Uint8Array]> = [
    ["an empty body", secret, new Uint8Array(0)],
    ["a secret with non-ASCII characters", "clé secrète ✓", body],
    ["a body that is not UTF-8", secret, new Uint8Array([0xff, 0x00, 0x80, 0xc0])],
    ["a body larger than a hash block", secret, new TextEncoder().encode("x".repeat(10_000))],
    ["a secret longer than a hash block", "k".repeat(200), body],
  ];
  for (const [name, key, bytes] of signed)
    test(`${name}: signed and verified like node:crypto`, () => {
      expect(githubSignature(key, bytes)).toBe(reference(key, bytes));
      expect(verifyGithubSignature(key, bytes, reference(key, bytes))).toBe(true);
    });

  test("the same signature under another secret fails", () =>
    expect(verifyGithubSignature("another secret", body, good)).toBe(false));
});

describe("tokens", () => {
  test("a generated secret is 256 bits of base64url and matches only its own hash", () => {
    const token = generateToken();
    expect(token.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(token.key).toMatch(/^[0-9a-f-]{36}$/);
    expect(secretMatches(token.secret, token.secretHash)).toBe(true);
    expect(secretMatches(`${token.secret}x`, token.secretHash)).toBe(false);
    expect(secretMatches("", token.secretHash)).toBe(false);
    expect(hashSecret(token.secret)).toEqual(token.secretHash);
  });

  const basic = (pair: string) => `Basic ${Buffer.from(pair).toString("base64")}`;
  const cases: Array<[string, string | undefined, { key: string; secret: string } | null]> = [
    ["Bearer key:secret", "Bearer k1:s1", { key: "k1", secret: "s1" }],
    ["the scheme is case-insensitive", "bearer k1:s1", { key: "k1", secret: "s1" }],
    ["HTTP Basic with key and secret", basic("k1:s1"), { key: "k1", secret: "s1" }],
    ["a secret may hold a colon", "Bearer k1:s:1", { key: "k1", secret: "s:1" }],
    ["no header", undefined, null],
    ["no colon", "Bearer k1s1", null],
    ["an empty secret", "Bearer k1:", null],
    ["an empty key", "Bearer :s1", null],
    ["another scheme", "Token k1:s1", null],
    ["a scheme alone", "Bearer", null],
  ];
  for (const [name, header, expected] of cases)
    test(`authorization: ${name}`, () => expect(parseAuthorization(header)).toEqual(expected));
});

describe("message bodies", () => {
  const cases: Array<[string, number[], "base64" | undefined]> = [
    ["ASCII JSON stays text", [...new TextEncoder().encode('{"a": 1}')], undefined],
    ["an empty body is an empty string", [], undefined],
    ["multi-byte UTF-8 stays text", [...new TextEncoder().encode("é✓🚀")], undefined],
    ["a byte-order mark is kept as text", [0xef, 0xbb, 0xbf, 0x7b, 0x7d], undefined],
    ["a lone continuation byte is binary", [0x80], "base64"],
    ["a truncated sequence is binary", [0xe2, 0x9c], "base64"],
    ["an overlong encoding is binary", [0xc0, 0xaf], "base64"],
    ["an encoded surrogate is binary", [0xed, 0xa0, 0x80], "base64"],
    ["PNG magic is binary", [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "base64"],
  ];
  for (const [name, bytes, encoding] of cases)
    test(`${name}, and round-trips`, () => {
      const input = new Uint8Array(bytes);
      const encoded = encodeBody(input);
      expect(encoded.encoding).toBe(encoding);
      const back =
        encoded.encoding === "base64"
          ? new Uint8Array(Buffer.from(encoded.body, "base64"))
          : new TextEncoder().encode(encoded.body);
      expect(back).toEqual(input);
    });

  test("the webhook message has the original field order, the misspelled bucked_id, and a cursor beside meta", () => {
    const message = webhookMessage(
      { id: "7", bucketId: "b", bucketName: "my-bucket", inputId: "i", inputName: "Default public endpoint" },
      {
        method: "POST",
        headers: { "Content-Type": ["application/json"] },
        query: "foo=bar",
        body: new TextEncoder().encode('{"hi": "there"}'),
      },
      "0badc0de-7",
    );
    expect(message).toBe(
      '{"type":"webhook","meta":{"id":"7","bucked_id":"b","bucket_name":"my-bucket","input_id":"i",' +
        '"input_name":"Default public endpoint","output_name":"","output_destination":""},"cursor":"0badc0de-7",' +
        '"headers":{"Content-Type":["application/json"]},"query":"foo=bar","body":"{\\"hi\\": \\"there\\"}","method":"POST"}',
    );
  });

  test("a binary body adds body_encoding right after body", () => {
    const message = webhookMessage(
      { id: "1", bucketId: "b", bucketName: "n", inputId: "i", inputName: "x" },
      { method: "PUT", headers: {}, query: "", body: new Uint8Array([0xff]) },
      "0badc0de-1",
    );
    expect(message).toEndWith('"body":"/w==","body_encoding":"base64","method":"PUT"}');
  });
});

describe("messages spliced from a body escaped once", () => {
  const meta = { id: "7", bucketId: "b", bucketName: "my-bucket", inputId: "i", inputName: "Default" };
  const text = (body: string) => new TextEncoder().encode(body);
  // The message as one JSON.stringify of the whole object gives it: what clients have always received.
  const whole = (delivery: RelayedDelivery, output: OutputRef | null) => {
    const encoded = encodeBody(delivery.body);
    return JSON.stringify({
      type: "webhook",
      meta: {
        id: meta.id,
        bucked_id: meta.bucketId,
        bucket_name: meta.bucketName,
        input_id: meta.inputId,
        input_name: meta.inputName,
        output_name: output?.name ?? "",
        output_destination: output?.destination ?? "",
      },
      cursor: "c-7",
      ...(delivery.replayOf === undefined ? {} : { replay: { of: delivery.replayOf } }),
      ...(delivery.passthroughMs === undefined
        ? {}
        : { passthrough: { timeout_ms: delivery.passthroughMs } }),
      headers: delivery.headers,
      query: delivery.query,
      body: encoded.body,
      ...(encoded.encoding === undefined ? {} : { body_encoding: encoded.encoding }),
      method: delivery.method,
    });
  };
  const plain = { method: "POST", headers: { "Content-Type": ["application/json"] }, query: "a=1" };
  const cases: Array<[string, RelayedDelivery]> = [
    ["a JSON body full of quotes", { ...plain, body: text('{"a":"b","c":[1,2,{"d":null}]}') }],
    ["an empty body", { ...plain, body: new Uint8Array(0) }],
    [
      "control characters, backslashes and line separators",
      { ...plain, body: text('\u0000\x01\t\n\r"\\ \u2028\u2029') },
    ],
    ["multi-byte text and a byte-order mark", { ...plain, body: text("\ufeffé✓🚀") }],
    ["a binary body (base64, body_encoding)", { ...plain, body: new Uint8Array([0xff, 0x00, 0x80]) }],
    ["a replay", { ...plain, body: text("{}"), replayOf: "3" }],
    ["a sender waiting for the answer", { ...plain, body: text("{}"), passthroughMs: 2500 }],
    [
      "a method and query that need escaping",
      { ...plain, method: 'PO"ST', query: 'q="x"&\\', body: text("x") },
    ],
    ["no headers at all", { method: "GET", headers: {}, query: "", body: text("") }],
  ];
  for (const [name, delivery] of cases) {
    test(`${name}: the same bytes as serialising the whole message`, () => {
      expect(webhookMessage(meta, delivery, "c-7")).toBe(whole(delivery, null));
      const output = { name: 'out "1"', destination: "https://example.test/hook" };
      expect(webhookMessage(meta, delivery, "c-7", output)).toBe(whole(delivery, output));
    });
  }

  test("one message per output, in the outputs' order, each naming its output", () => {
    const outputs = [
      { name: "first", destination: "https://one.test/" },
      { name: "second", destination: "https://two.test/" },
    ];
    const delivery = { ...plain, body: text('{"n":1}'), outputs };
    expect(webhookMessages(meta, delivery, "c-7")).toEqual(outputs.map((output) => whole(delivery, output)));
  });

  const members: Array<[string, Uint8Array, string]> = [
    ["text is a JSON string", text('{"a":1}'), '"body":"{\\"a\\":1}","method":"POST"'],
    [
      "binary is base64 with its encoding",
      new Uint8Array([0xff]),
      '"body":"/w==","body_encoding":"base64","method":"POST"',
    ],
    ["an empty body is an empty string", new Uint8Array(0), '"body":"","method":"POST"'],
  ];
  for (const [name, body, expected] of members)
    test(`body members: ${name}`, () => expect(bodyMembers(body, "POST")).toBe(expected));
});

describe("cursors of the SQLite store: <epoch>-<hex id>", () => {
  const cursors = epochCursors("0badc0de");
  const cases: Array<[string, string, ParsedCursor]> = [
    ["a cursor of this database", "0badc0de-ff", { kind: "valid", position: 255 }],
    ["the start of this database", "0badc0de-0", { kind: "valid", position: 0 }],
    ["a cursor of another database", "deadbeef-ff", { kind: "foreign" }],
    ["a log journal's cursor shape from elsewhere", "3f9a1c2e-4e21", { kind: "foreign" }],
    ["a Redis stream id (cluster mode)", "1795412792518-0", { kind: "foreign" }],
    ["a decimal meta.id", "1234", { kind: "malformed" }],
    ["upper-case hex", "0BADC0DE-FF", { kind: "malformed" }],
    ["an id past 13 hex digits", "0badc0de-10000000000000", { kind: "malformed" }],
    ["a negative id", "0badc0de--1", { kind: "malformed" }],
    ["an empty string", "", { kind: "malformed" }],
  ];
  for (const [name, cursor, expected] of cases)
    test(`${name}: ${expected.kind}`, () => expect(cursors.parse(cursor)).toEqual(expected));

  test("formatting and parsing round-trip, and the order of ids is kept", () => {
    for (const id of [1, 9, 10, 255, 4096, 2 ** 40, 2 ** 52 - 1]) {
      expect(cursors.positionOf(String(id))).toBe(id);
      expect(cursors.parse(cursors.format(id))).toEqual({ kind: "valid", position: id });
    }
  });
});

describe("cursors of the Redis store: the stream id", () => {
  const cases: Array<[string, string, ParsedCursor]> = [
    ["a stream id", "1795412792518-3", { kind: "valid", position: streamPosition(1795412792518, 3) }],
    ["the start of the stream", "0-0", { kind: "valid", position: 0 }],
    ["a sequence this writer never assigns", "1795412792518-1024", { kind: "foreign" }],
    ["an SQLite cursor", "0badc0de-ff", { kind: "foreign" }],
    [
      "an SQLite cursor with decimal-looking digits",
      "12345678-9",
      { kind: "valid", position: streamPosition(12345678, 9) },
    ],
    ["no sequence", "1795412792518", { kind: "malformed" }],
    ["a negative sequence", "1795412792518--1", { kind: "malformed" }],
    ["an empty string", "", { kind: "malformed" }],
  ];
  for (const [name, cursor, expected] of cases)
    test(`${name}: ${expected.kind}`, () => expect(streamCursors.parse(cursor)).toEqual(expected));

  test("stream ids map to positions in stream order, and back", () => {
    const ids = [
      "0-1",
      "5-0",
      "5-1",
      "5-1023",
      "6-0",
      "1795412792518-0",
      "1795412792518-7",
      "8796093022207-1023",
    ];
    const positions = ids.map((id) => streamCursors.positionOf(id));
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    for (const [index, id] of ids.entries()) {
      expect(Number.isSafeInteger(positions[index])).toBe(true);
      expect(streamCursors.format(positions[index] ?? -1)).toBe(id);
    }
  });

  test("both shapes pass the subscribe frame's shape check; other strings do not", () => {
    for (const cursor of ["0badc0de-ff", "1795412792518-0"]) expect(looksLikeCursor(cursor)).toBe(true);
    for (const cursor of ["", "abc", "1234", "0badc0de-", "-1", "1-2-3"])
      expect(looksLikeCursor(cursor)).toBe(false);
  });
});

describe("raw query", () => {
  const cases: Array<[string, string, string]> = [
    ["no query", "http://h/v1/webhooks/x", ""],
    ["kept exactly, encoding and order included", "http://h/p?b=%20x&a=1&a=2", "b=%20x&a=1&a=2"],
    ["a bare question mark", "http://h/p?", ""],
    ["a fragment is not part of it", "http://h/p?a=1#frag", "a=1"],
  ];
  for (const [name, url, expected] of cases) test(name, () => expect(rawQuery(url)).toBe(expected));
});

describe("delivery log entries", () => {
  const facts = (headers: Record<string, string[]>, body: string) => ({
    deliveryId: "42",
    bucketName: "hooks",
    headers,
    body: new TextEncoder().encode(body),
    receivedAt: Date.UTC(2026, 10, 23, 10, 0, 0),
  });
  const json = { "Content-Type": ["application/json"] };

  test("a pull_request delivery fills every context field", () => {
    const body = JSON.stringify({
      number: 5,
      pull_request: { number: 5 },
      repository: { full_name: "o/r" },
      sender: { login: "u" },
    });
    expect(
      deliveryLogEntry(
        facts({ ...json, "X-Github-Event": ["pull_request"], "X-Github-Delivery": ["g"] }, body),
      ),
    ).toEqual({
      timestamp: "2026-11-23T10:00:00.000Z",
      level: "INFO",
      logger_name: "relay",
      message: `Webhook pull_request received on bucket hooks (${body.length} bytes)`,
      hook_id: "g",
      event_type: "pull_request",
      repository: "o/r",
      pr_number: 5,
      github_user: "u",
      task_id: null,
      task_type: null,
      task_status: null,
      token_spend: null,
    });
  });

  test("serialises with the log stream's field order, payload fields included", () => {
    const body = JSON.stringify({ repository: { full_name: "o/r" }, sender: { login: "u" } });
    const entry = deliveryLogEntry(facts({ ...json, "X-Github-Event": ["push"] }, body));
    const serialised = JSON.parse(JSON.stringify(entry)) as Record<string, unknown>;
    expect(Object.keys(serialised)).toEqual([
      "timestamp",
      "level",
      "logger_name",
      "message",
      "hook_id",
      "event_type",
      "repository",
      "pr_number",
      "github_user",
      "task_id",
      "task_type",
      "task_status",
      "token_spend",
    ]);
    expect(serialised).toMatchObject({ repository: "o/r", pr_number: null, github_user: "u" });
    expect({ ...entry }.github_user).toBe("u");
  });

  const prCases: Array<[string, Record<string, unknown>, string | null, number | null]> = [
    ["pull_request.number", { pull_request: { number: 3 } }, "pull_request_review", 3],
    ["number on a pull_request event", { number: 4 }, "pull_request", 4],
    ["issue.number when the issue is a PR", { issue: { number: 6, pull_request: {} } }, "issue_comment", 6],
    ["no PR for a plain issue", { issue: { number: 6 } }, "issues", null],
    ["no PR for number on another event", { number: 9 }, "push", null],
    ["a non-integer number is ignored", { pull_request: { number: "3" } }, "pull_request", null],
  ];
  for (const [name, payload, event, expected] of prCases)
    test(`PR number: ${name}`, () => expect(pullRequestNumber(payload, event)).toBe(expected));

  test("without X-GitHub-Delivery the hook id is the delivery id; a bad payload leaves fields null", () => {
    const entry = deliveryLogEntry(facts(json, "{broken"));
    expect(entry).toMatchObject({ hook_id: "42", event_type: null, repository: null, pr_number: null });
    expect(entry.message).toBe("Webhook delivery received on bucket hooks (7 bytes)");
  });

  test("a payload that is not declared JSON is not parsed", () => {
    const entry = deliveryLogEntry(facts({ "Content-Type": ["text/plain"] }, '{"sender":{"login":"u"}}'));
    expect(entry.github_user).toBeNull();
  });

  test("JSON that is not an object is ignored", () => {
    expect(deliveryLogEntry(facts(json, "[1,2]")).repository).toBeNull();
  });
});

describe("auth limiter", () => {
  test("allows up to the limit of failures per address and credential within a minute, then refuses until it passes", () => {
    let now = 0;
    const limiter = createAuthLimiter({ maxFailures: 3, now: () => now });
    for (let i = 0; i < 3; i++) {
      expect(limiter.allows("a", "key-1")).toBe(true);
      limiter.recordFailure("a", "key-1");
    }
    expect(limiter.allows("a", "key-1")).toBe(false);
    expect(limiter.allows("b", "key-1")).toBe(true);
    now = 59_999;
    expect(limiter.allows("a", "key-1")).toBe(false);
    now = 60_000;
    expect(limiter.allows("a", "key-1")).toBe(true);
  });

  test("failures with one credential leave the same address's other credentials alone", () => {
    const limiter = createAuthLimiter({ maxFailures: 1 });
    limiter.recordFailure("a", "key-1");
    expect(limiter.allows("a", "key-1")).toBe(false);
    expect(limiter.allows("a", "key-2")).toBe(true);
  });

  test("tracks at most maxTracked pairs, forgetting the oldest window", () => {
    const limiter = createAuthLimiter({ maxFailures: 1, maxTracked: 2 });
    limiter.recordFailure("a", "k");
    limiter.recordFailure("b", "k");
    limiter.recordFailure("c", "k");
    expect(limiter.tracked()).toBe(2);
    expect(limiter.allows("a", "k")).toBe(true);
    expect(limiter.allows("c", "k")).toBe(false);
  });
});

describe("byte budget", () => {
  test("reserves up to its limit, refuses beyond it without taking anything, and frees on release", () => {
    const budget = createByteBudget(100);
    expect(budget.reserve(60)).toBe(true);
    expect(budget.reserve(41)).toBe(false);
    expect(budget.inUse()).toBe(60);
    expect(budget.reserve(40)).toBe(true);
    budget.release(60);
    expect(budget.reserve(60)).toBe(true);
    expect(budget.inUse()).toBe(100);
  });
});
