/**
 * The server's own log: access lines for WebSocket upgrades, relay socket authentication and API calls, with
 * fields and never a secret; LOG_FORMAT=json lines that carry those fields; LOG_LEVEL.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditedEndpoint, filtersOf, identityOf } from "../../src/ops/access.ts";
import { formatLogLine, isLogged, type LogLevel } from "../../src/process/log-line.ts";
import type { LogFn } from "../../src/server.ts";
import { freePort } from "../helpers/redis.ts";
import { relayFixture, repoRoot } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor, wsConnect } from "../helpers/ws.ts";

const LOGS_TOKEN = "logs-token-0123456789abcdef";
const TIME = "2026-12-02T06:00:00.000Z";

describe("formatLogLine", () => {
  const cases: Array<[string, "text" | "json", Record<string, unknown>, string]> = [
    ["a text line without fields is time, level and message", "text", {}, `${TIME} INFO hello`],
    [
      "a text line writes plain values bare and others JSON-quoted",
      "text",
      { address: "127.0.0.1", endpoint: "/logs/ws", filters: { level: "ERROR" }, note: "two words" },
      `${TIME} INFO hello address=127.0.0.1 endpoint=/logs/ws filters={"level":"ERROR"} note="two words"`,
    ],
    [
      "a newline in a value cannot start a forged line",
      "text",
      { path: "/x\n2026 INFO forged" },
      `${TIME} INFO hello path="/x\\n2026 INFO forged"`,
    ],
    [
      "fields left undefined are left out",
      "text",
      { key: undefined, status: 101 },
      `${TIME} INFO hello status=101`,
    ],
    [
      "a JSON line carries its fields as keys",
      "json",
      { endpoint: "/v1/admin", status: 200 },
      `{"endpoint":"/v1/admin","status":200,"time":"${TIME}","level":"info","message":"hello"}`,
    ],
    [
      "a field cannot overwrite the time, level or message of a JSON line",
      "json",
      { level: "error", message: "forged" },
      `{"level":"info","message":"hello","time":"${TIME}"}`,
    ],
  ];
  for (const [name, format, fields, line] of cases)
    test(name, () => {
      const written = formatLogLine(format, TIME, "info", "hello", fields);
      if (format === "json") expect(JSON.parse(written)).toEqual(JSON.parse(line));
      else expect(written).toBe(line);
    });
});

describe("isLogged", () => {
  const cases: Array<[string, LogLevel, LogLevel, boolean]> = [
    ["info lines are written at the default level", "info", "info", true],
    ["info lines are dropped at warn", "warn", "info", false],
    ["warnings are written at warn", "warn", "warn", true],
    ["errors are written at every level", "error", "error", true],
    ["warnings are dropped at error", "error", "warn", false],
  ];
  for (const [name, threshold, level, written] of cases)
    test(name, () => expect(isLogged(threshold, level)).toBe(written));
});

describe("what an access line records", () => {
  const endpoints: Array<[string, string, string, string | null]> = [
    ["the log stream is recorded under its path", "GET", "/logs/ws", "/logs/ws"],
    ["a bucket of the admin API is recorded as the admin API", "DELETE", "/v1/buckets/ci", "/v1/admin"],
    ["tokens are the admin API too", "POST", "/v1/tokens", "/v1/admin"],
    ["a history query is a log API call", "GET", "/logs/api/entries", "/logs/api"],
    ["a sign-in attempt is recorded", "POST", "/logs/login", "/logs/login"],
    ["the sign-in form itself is not", "GET", "/logs/login", null],
    ["webhook inputs are not (their senders are counted by reason)", "POST", "/v1/webhooks/abc", null],
    ["a path that only starts like the admin API is not", "GET", "/v1/bucketsX", null],
  ];
  for (const [name, method, path, endpoint] of endpoints)
    test(name, () => expect(auditedEndpoint(method, path)).toBe(endpoint));

  test("filters leave the token out and bound what is repeated", () => {
    const query = new URLSearchParams({ level: "ERROR", token: LOGS_TOKEN, repository: "r".repeat(500) });
    expect(filtersOf(query)).toEqual({ level: "ERROR", repository: "r".repeat(200) });
    expect(filtersOf(new URLSearchParams())).toBeUndefined();
  });

  const identities: Array<
    [string, string, { authorization?: string; cookie?: string }, string, Record<string, string>]
  > = [
    [
      "an admin token is named by its key",
      "/v1/admin",
      { authorization: "Bearer 0b6f1c1e-8f0a-4a51-9d0e-3c1c2f4b5a6d:s3cret" },
      "",
      { credential: "token", key: "0b6f1c1e-8f0a-4a51-9d0e-3c1c2f4b5a6d" },
    ],
    [
      "a key that is not a key is not repeated",
      "/v1/admin",
      { authorization: "Bearer <script>:s3cret" },
      "",
      { credential: "token", key: "malformed" },
    ],
    [
      "a log reader's bearer token is named by how it was shown",
      "/logs/api",
      { authorization: "Bearer x" },
      "",
      { credential: "bearer" },
    ],
    ["a token in the query is named as such", "/logs/ws", {}, "token=x", { credential: "query" }],
    [
      "a signed-in browser shows its cookie",
      "/logs/ws",
      { cookie: "hookstream_logs=1.abc" },
      "",
      { credential: "cookie" },
    ],
    ["a relay socket names its token only when it authenticates", "/v1/socket", {}, "", {}],
  ];
  for (const [name, endpoint, headers, query, identity] of identities)
    test(name, () => expect(identityOf(endpoint, headers, new URLSearchParams(query))).toEqual(identity));
});

interface Line {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

function capture(): { log: LogFn; lines: Line[] } {
  const lines: Line[] = [];
  return { lines, log: (level, message, fields = {}) => lines.push({ level, message, fields }) };
}

describe("access lines from the real server", () => {
  test("name the address, endpoint, filters and credential of upgrades and API calls, and no secret", async () => {
    const { log, lines } = capture();
    await using server = await startTestServer({ env: { LOGS_TOKEN }, log });
    await using relay = await relayFixture(server);

    const stream = await wsConnect(server.wsUrl(`/logs/ws?level=ERROR&token=${LOGS_TOKEN}`));
    const refused = await fetch(server.httpUrl("/logs/ws?token=wrong-token-0123456789"), {
      headers: {
        Upgrade: "websocket",
        Connection: "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
      },
    });
    expect(refused.status).toBe(401);
    expect((await relay.api("GET", "/v1/buckets")).status).toBe(200);
    const socket = await relay.authenticated(relay.admin);
    const bad = await wsConnect(server.wsUrl("/v1/socket"));
    bad.send(JSON.stringify({ action: "auth", key: relay.admin.key, secret: "not-the-secret" }));
    await bad.closed;
    await waitFor(() => lines.some((l) => l.message === "relay socket refused"), 5000, "refused line");

    const find = (message: string, endpoint: string) => {
      const line = lines.find((l) => l.message === message && l.fields.endpoint === endpoint);
      if (line === undefined)
        throw new Error(`no "${message}" line for ${endpoint}: ${JSON.stringify(lines)}`);
      return line;
    };
    expect(find("websocket upgrade accepted", "/logs/ws")).toMatchObject({
      level: "info",
      fields: { address: "127.0.0.1", filters: { level: "ERROR" }, credential: "query", status: 101 },
    });
    expect(find("websocket upgrade refused", "/logs/ws")).toMatchObject({
      level: "warn",
      fields: { address: "127.0.0.1", credential: "query", status: 401 },
    });
    expect(find("api call accepted", "/v1/admin")).toMatchObject({
      fields: { method: "GET", path: "/v1/buckets", credential: "token", key: relay.admin.key, status: 200 },
    });
    expect(find("websocket upgrade accepted", "/v1/socket").fields.address).toBe("127.0.0.1");
    expect(find("relay socket authenticated", "/v1/socket")).toMatchObject({
      fields: { key: relay.admin.key, buckets: "all" },
    });
    expect(find("relay socket refused", "/v1/socket")).toMatchObject({
      level: "warn",
      fields: { reason: "invalid" },
    });

    const everything = JSON.stringify(lines);
    for (const secret of [LOGS_TOKEN, relay.admin.secret, "not-the-secret", "wrong-token-0123456789"])
      expect(everything).not.toContain(secret);
    stream.close();
    socket.close();
  });
});

/** The real entry point on a free port; `lines()` are what it wrote to stdout and stderr so far. */
async function startMain(env: Record<string, string>) {
  const dataDir = mkdtempSync(join(tmpdir(), "hookstream-log-"));
  const port = await freePort();
  const child = Bun.spawn(["bun", "src/main.ts"], {
    cwd: repoRoot,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out: string[] = [];
  const read = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) out.push(decoder.decode(chunk, { stream: true }));
  };
  const reading = Promise.all([read(child.stdout), read(child.stderr)]);
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/livez`).catch(() => null))?.ok === true,
    10_000,
    "the server",
  );
  return {
    port,
    lines: () => out.join("").split("\n").filter(Boolean),
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.exited;
      await reading;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

describe("LOG_FORMAT and LOG_LEVEL", () => {
  for (const level of ["info", "warn"] as const)
    test(`json lines carry the access fields as keys, and LOG_LEVEL=${level} drops only what is less severe`, async () => {
      await using main = await startMain({ LOG_FORMAT: "json", LOG_LEVEL: level });
      // Not an upgrade: refused with 426, a warning whatever the level.
      expect((await fetch(`http://127.0.0.1:${main.port}/logs/ws?level=ERROR`)).status).toBe(426);
      await waitFor(() => main.lines().some((l) => l.includes("upgrade refused")), 5000, "the access line");
      const parsed = main.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(parsed.find((l) => l.message === "websocket upgrade refused")).toMatchObject({
        level: "warn",
        endpoint: "/logs/ws",
        address: "127.0.0.1",
        filters: { level: "ERROR" },
        status: 426,
      });
      const infos = parsed.filter((l) => l.level === "info");
      if (level === "info") expect(infos.some((l) => String(l.message).includes("listening on"))).toBe(true);
      else expect(infos).toEqual([]);
    });
});
