import { describe, expect, test } from "bun:test";
import { safeNext } from "../../src/http/login.ts";
import { isSameOrigin } from "../../src/http/logs-access.ts";
import {
  createSessionCookieValue,
  createSessionRevocations,
  readSessionCookie,
} from "../../src/http/sessions.ts";
import { weakTokenReason } from "../../src/http/token-strength.ts";
import { append, connectLogs, textLine } from "../helpers/logs.ts";
import { relayFixture } from "../helpers/relay.ts";
import { startTestServer } from "../helpers/server.ts";
import { wsConnect } from "../helpers/ws.ts";

const TOKEN = "s3cret-logs-token-0123456789";
const isValidSessionCookie = (value: string, token: string, now: number) =>
  readSessionCookie(value, token, now) !== null;
const upgradeHeaders = {
  Upgrade: "websocket",
  Connection: "Upgrade",
  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version": "13",
};

describe("session cookies (pure)", () => {
  test("a fresh cookie is valid for its token", () => {
    expect(isValidSessionCookie(createSessionCookieValue(TOKEN, 1000), TOKEN, 1001)).toBe(true);
  });
  test("a cookie is invalid once the token changes", () => {
    expect(isValidSessionCookie(createSessionCookieValue(TOKEN, 1000), `${TOKEN}x`, 1001)).toBe(false);
  });
  test("an expired cookie is invalid", () => {
    expect(isValidSessionCookie(createSessionCookieValue(TOKEN, 1000), TOKEN, 1000 + 8 * 24 * 3600)).toBe(
      false,
    );
  });
  test("a forged expiry breaks the signature", () => {
    const [, id, mac] = createSessionCookieValue(TOKEN, 1000).split(".");
    expect(isValidSessionCookie(`99999999999.${id}.${mac}`, TOKEN, 1001)).toBe(false);
  });
  test("garbage is invalid", () => {
    for (const value of ["", ".", "abc", "1.2.3", "NaN.x", "1..x", "1.2.3.4"])
      expect(isValidSessionCookie(value, TOKEN, 1)).toBe(false);
  });
  test("two sign-ins in the same second are two sessions", () => {
    const a = readSessionCookie(createSessionCookieValue(TOKEN, 1000), TOKEN, 1000);
    const b = readSessionCookie(createSessionCookieValue(TOKEN, 1000), TOKEN, 1000);
    expect(a?.id).not.toBe(b?.id);
  });
  test("a revoked session stays revoked until its cookie expires, then is forgotten", () => {
    let now = 0;
    const revocations = createSessionRevocations({ now: () => now, maxEntries: 2 });
    revocations.revoke({ id: "a", expiresAt: 10 });
    expect(revocations.isRevoked({ id: "a", expiresAt: 10 })).toBe(true);
    expect(revocations.isRevoked({ id: "b", expiresAt: 10 })).toBe(false);
    now = 11;
    revocations.revoke({ id: "b", expiresAt: 20 });
    revocations.revoke({ id: "c", expiresAt: 30 });
    expect(revocations.size()).toBe(2);
    expect(revocations.isRevoked({ id: "d", expiresAt: 15 })).toBe(false);
  });
  test("past the limit, the first to expire is forgotten and every cookie expiring by then is refused", () => {
    const revocations = createSessionRevocations({ now: () => 0, maxEntries: 2 });
    revocations.revoke({ id: "late", expiresAt: 30 });
    revocations.revoke({ id: "early", expiresAt: 10 });
    revocations.revoke({ id: "new", expiresAt: 40 });
    expect(revocations.size()).toBe(2);
    // "early" was forgotten but stays refused; so is any other cookie expiring no later.
    expect(revocations.isRevoked({ id: "early", expiresAt: 10 })).toBe(true);
    expect(revocations.isRevoked({ id: "other", expiresAt: 9 })).toBe(true);
    expect(revocations.isRevoked({ id: "other", expiresAt: 11 })).toBe(false);
    expect(revocations.isRevoked({ id: "late", expiresAt: 30 })).toBe(true);
  });
  const origins: Array<[string | undefined, string | undefined, boolean]> = [
    ["http://localhost:5000", "localhost:5000", true],
    ["https://logs.example.com", "logs.example.com", true],
    ["http://evil.example", "localhost:5000", false],
    ["null", "localhost:5000", false],
    [undefined, "localhost:5000", false],
  ];
  for (const [origin, host, same] of origins) {
    test(`origin ${origin} for host ${host} is ${same ? "same" : "cross"}-origin`, () => {
      expect(isSameOrigin(origin, host)).toBe(same);
    });
  }
  const nexts: Array<[string | undefined, string]> = [
    ["/logs?level=ERROR", "/logs?level=ERROR"],
    ["/logs?search=rate+limit&repository=a%2Fb", "/logs?search=rate+limit&repository=a%2Fb"],
    ["//evil.example/", "/logs"],
    ["https://evil.example/", "/logs"],
    ['/logs"><script>', "/logs"],
    [undefined, "/logs"],
  ];
  for (const [next, safe] of nexts)
    test(`next=${next} goes to ${safe}`, () => expect(safeNext(next)).toBe(safe));
});

describe("with LOGS_TOKEN set", () => {
  test("the stream refuses an upgrade without the token with 401, before any upgrade", async () => {
    await using server = await startTestServer({ env: { LOGS_TOKEN: TOKEN } });
    const response = await fetch(server.httpUrl("/logs/ws"), { headers: upgradeHeaders });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toContain("Authentication required");
    await expect(wsConnect(server.wsUrl("/logs/ws?token=wrong"))).rejects.toThrow("failed");
  });

  test("a wrong Bearer token is refused even with a valid query token", async () => {
    await using server = await startTestServer({ env: { LOGS_TOKEN: TOKEN } });
    const response = await fetch(server.httpUrl(`/logs/ws?token=${TOKEN}`), {
      headers: { ...upgradeHeaders, Authorization: "Bearer nope" },
    });
    expect(response.status).toBe(401);
  });

  test("the token as a query parameter opens the stream", async () => {
    await using server = await startTestServer({ env: { LOGS_TOKEN: TOKEN }, files: { "server.log": "" } });
    const client = await connectLogs(server, `token=${TOKEN}&level=INFO`);
    append(server, "server.log", textLine({ seq: 1 }));
    expect((await client.nextJson<{ message: string }>()).message).toBe("msg 1");
    client.close();
  });

  test("a Bearer header opens the stream for programs", async () => {
    await using server = await startTestServer({ env: { LOGS_TOKEN: TOKEN } });
    const socket = new WebSocket(server.wsUrl("/logs/ws"), {
      headers: { Authorization: `Bearer ${TOKEN}` },
    } as unknown as string[]);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    socket.close();
  });

  test("the page redirects to the sign-in form, which sets an HttpOnly cookie that opens page and stream", async () => {
    await using server = await startTestServer({ env: { LOGS_TOKEN: TOKEN } });
    const page = await fetch(server.httpUrl("/logs"), { redirect: "manual" });
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/logs/login?next=%2Flogs");
    const filtered = await fetch(server.httpUrl("/logs?level=ERROR&token=wrong"), { redirect: "manual" });
    expect(filtered.headers.get("location")).toBe(
      `/logs/login?next=${encodeURIComponent("/logs?level=ERROR")}`,
    );
    // A link that carries the token opens the page, and its scripts load without one.
    const linked = await fetch(server.httpUrl(`/logs?token=${TOKEN}`));
    expect(linked.status).toBe(200);
    const script = /src="(\/logs\/assets\/[^"]+)"/.exec(await linked.text())?.[1];
    expect(script).toBeDefined();
    expect((await fetch(server.httpUrl(script as string), { redirect: "manual" })).status).toBe(200);
    const form = await fetch(server.httpUrl("/logs/login?next=/logs"));
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('name="token"');

    const wrong = await fetch(server.httpUrl("/logs/login"), {
      method: "POST",
      body: new URLSearchParams({ token: "nope", next: "/logs" }),
      redirect: "manual",
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();

    const signIn = await fetch(server.httpUrl("/logs/login"), {
      method: "POST",
      body: new URLSearchParams({ token: TOKEN, next: "/logs?level=ERROR" }),
      redirect: "manual",
    });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get("location")).toBe("/logs?level=ERROR");
    const setCookie = signIn.headers.get("set-cookie") ?? "";
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Strict");
    const cookie = setCookie.split(";")[0] as string;
    expect(cookie).not.toContain(TOKEN);

    const host = `127.0.0.1:${server.server.port}`;
    const sameOrigin = await fetch(server.httpUrl("/logs/ws"), {
      headers: { ...upgradeHeaders, Cookie: cookie, Origin: `http://${host}`, Host: host },
    });
    expect(sameOrigin.status).toBe(101);
    const crossOrigin = await fetch(server.httpUrl("/logs/ws"), {
      headers: { ...upgradeHeaders, Cookie: cookie, Origin: "http://evil.example" },
    });
    expect(crossOrigin.status).toBe(403);
    expect(((await crossOrigin.json()) as { error: string }).error).toContain("Cross-origin");
  });

  test("signing out ends the session on the server: the old cookie opens nothing any more", async () => {
    await using server = await startTestServer({ env: { LOGS_TOKEN: TOKEN } });
    const signIn = async () => {
      const response = await fetch(server.httpUrl("/logs/login"), {
        method: "POST",
        body: new URLSearchParams({ token: TOKEN }),
        redirect: "manual",
      });
      return (response.headers.get("set-cookie") ?? "").split(";")[0] as string;
    };
    const cookie = await signIn();
    const other = await signIn();
    const api = (cookie: string) =>
      fetch(server.httpUrl("/logs/api/entries"), { headers: { Cookie: cookie } });
    expect((await api(cookie)).status).toBe(200);
    const signOut = await fetch(server.httpUrl("/logs/logout"), {
      method: "POST",
      headers: { Cookie: cookie },
      redirect: "manual",
    });
    expect(signOut.status).toBe(303);
    // A copy of the cookie kept elsewhere (another tab's request in flight, a stolen value) is refused too.
    expect((await api(cookie)).status).toBe(401);
    expect(
      (await fetch(server.httpUrl("/logs"), { headers: { Cookie: cookie }, redirect: "manual" })).status,
    ).toBe(303);
    const host = `127.0.0.1:${server.server.port}`;
    const upgrade = await fetch(server.httpUrl("/logs/ws"), {
      headers: { ...upgradeHeaders, Cookie: cookie, Origin: `http://${host}`, Host: host },
    });
    expect(upgrade.status).toBe(401);
    // Another browser's session, signed in the same second, goes on.
    expect((await api(other)).status).toBe(200);
  });

  test("the history API wants the token too", async () => {
    await using server = await startTestServer({ env: { LOGS_TOKEN: TOKEN } });
    expect((await fetch(server.httpUrl("/logs/api/entries"))).status).toBe(401);
    expect(
      (await fetch(server.httpUrl("/logs/api/entries"), { headers: { Authorization: `Bearer ${TOKEN}` } }))
        .status,
    ).not.toBe(401);
  });

  test("repeated wrong sign-ins from one address are refused for a while", async () => {
    await using server = await startTestServer({
      env: { LOGS_TOKEN: TOKEN, RELAY_AUTH_FAILURES_PER_MINUTE: "3" },
    });
    const attempt = () =>
      fetch(server.httpUrl("/logs/login"), {
        method: "POST",
        body: new URLSearchParams({ token: "nope" }),
        redirect: "manual",
      });
    for (let i = 0; i < 3; i++) expect((await attempt()).status).toBe(401);
    expect((await attempt()).status).toBe(429);
    const right = await fetch(server.httpUrl("/logs/login"), {
      method: "POST",
      body: new URLSearchParams({ token: TOKEN }),
      redirect: "manual",
    });
    expect(right.status).toBe(429);
  });
});

describe("token guessing", () => {
  const LIMITED = { LOGS_TOKEN: TOKEN, RELAY_AUTH_FAILURES_PER_MINUTE: "3" };
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  test("wrong Bearer and query tokens share the sign-in form's limit and get 429 past it", async () => {
    await using server = await startTestServer({ env: LIMITED });
    expect((await fetch(server.httpUrl("/logs/api/entries"), { headers: bearer("guess-1") })).status).toBe(
      401,
    );
    expect((await fetch(server.httpUrl("/logs/ws?token=guess-2"), { headers: upgradeHeaders })).status).toBe(
      401,
    );
    const signIn = (token: string) =>
      fetch(server.httpUrl("/logs/login"), {
        method: "POST",
        body: new URLSearchParams({ token }),
        redirect: "manual",
      });
    expect((await signIn("guess-3")).status).toBe(401);

    const api = await fetch(server.httpUrl("/logs/api/entries"), { headers: bearer("guess-4") });
    expect(api.status).toBe(429);
    expect(api.headers.get("retry-after")).toBe("60");
    expect(await api.json()).toEqual({
      error: "Too many failed attempts; try again in a minute",
      detail: "Too many failed attempts; try again in a minute",
    });
    const ws = await fetch(server.httpUrl("/logs/ws?token=guess-5"), { headers: upgradeHeaders });
    expect(ws.status).toBe(429);
    expect((await signIn("guess-6")).status).toBe(429);
    // One secret with no public part: the right token from a locked address is refused as well.
    expect((await fetch(server.httpUrl("/logs/api/entries"), { headers: bearer(TOKEN) })).status).toBe(429);
  });

  test("a signed-in browser keeps working while its address is locked out for token guesses", async () => {
    await using server = await startTestServer({ env: LIMITED });
    const signIn = await fetch(server.httpUrl("/logs/login"), {
      method: "POST",
      body: new URLSearchParams({ token: TOKEN }),
      redirect: "manual",
    });
    const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0] as string;
    for (let i = 0; i < 3; i++)
      await fetch(server.httpUrl("/logs/api/entries"), { headers: bearer(`guess-${i}`) });
    expect((await fetch(server.httpUrl("/logs/api/entries"), { headers: bearer("guess-x") })).status).toBe(
      429,
    );
    expect((await fetch(server.httpUrl("/logs/api/entries"), { headers: { Cookie: cookie } })).status).toBe(
      200,
    );
  });

  const weak: Array<[string, string, boolean]> = [
    ["sixteen repeated letters are weak", "aaaaaaaaaaaaaaaa", true],
    ["a word with counted digits is weak", "password12345678", true],
    ["a short random token is weak", "k9X2mQ7vR4tB8wZ1", true],
    ["32 random hex characters are strong", "3f9a1c2e4d2b7e60a1c9d8f3b2e4a7c6", false],
    ["43 random base64url characters are strong", "Qm3Zp8-vXr2Lk9_TfY4wHs7Jd1NcB6eGa0UoRi5KtWy", false],
    ["the same 32 characters over and over are weak", "abababababababababababababababab", true],
  ];
  for (const [name, token, isWeak] of weak)
    test(name, () => expect(weakTokenReason(token) !== null).toBe(isWeak));

  test("the server warns at start-up when LOGS_TOKEN is weak, and not when it is strong", async () => {
    for (const [token, warned] of [
      ["aaaaaaaaaaaaaaaa", true],
      ["Qm3Zp8-vXr2Lk9_TfY4wHs7Jd1NcB6eGa0UoRi5KtWy", false],
    ] as const) {
      const warnings: string[] = [];
      await using _server = await startTestServer({
        env: { LOGS_TOKEN: token },
        log: (level, message) => {
          if (level === "warn") warnings.push(message);
        },
      });
      expect(warnings.some((warning) => warning.startsWith("LOGS_TOKEN is weak"))).toBe(warned);
    }
  });
});

describe("without LOGS_TOKEN", () => {
  test("everything is open, as in the original", async () => {
    await using server = await startTestServer();
    const client = await wsConnect(server.wsUrl("/logs/ws"));
    client.close();
    expect((await fetch(server.httpUrl("/logs/api/entries"))).status).not.toBe(401);
  });

  test("a cross-origin browser upgrade is refused with 403; same-origin and Origin-less clients connect", async () => {
    await using server = await startTestServer();
    const host = `127.0.0.1:${server.server.port}`;
    const upgrade = (headers: Record<string, string>) =>
      fetch(server.httpUrl("/logs/ws"), { headers: { ...upgradeHeaders, ...headers } });
    const cross = await upgrade({ Origin: "http://evil.example" });
    expect(cross.status).toBe(403);
    expect(((await cross.json()) as { error: string }).error).toContain("Cross-origin");
    // A sandboxed document (a configured input response, for one) has the opaque origin "null".
    expect((await upgrade({ Origin: "null" })).status).toBe(403);
    expect((await upgrade({ Origin: `http://${host}` })).status).toBe(101);
    expect((await upgrade({})).status).toBe(101);
  });

  test("a Host this server does not answer to is refused, so a rebound DNS name reads nothing", async () => {
    await using server = await startTestServer({
      env: { PUBLIC_URL: "https://hooks.example.com", ALLOWED_HOSTS: "logs.internal, dev.example.org" },
    });
    await using relay = await relayFixture(server);
    const bucket = await relay.createBucket("hooks");
    const port = server.server.port;
    const get = (path: string, host: string) => fetch(server.httpUrl(path), { headers: { Host: host } });
    for (const path of ["/logs/api/entries", "/logs/api/deliveries", "/logs", "/"]) {
      const rebound = await get(path, `attacker.example:${port}`);
      expect(rebound.status).toBe(403);
      expect(await rebound.json()).toEqual({
        error: 'Host "attacker.example" is not served here: set PUBLIC_URL or ALLOWED_HOSTS to allow it',
        field: "Host",
      });
    }
    expect((await get("/logs/ws", `attacker.example:${port}`)).status).toBe(403);
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `[::1]:${port}`,
      `10.1.2.3:${port}`,
      "hooks.example.com",
      `logs.internal:${port}`,
      "dev.example.org",
    ])
      expect((await get("/logs/api/entries", host)).status).toBe(200);
    // Inputs are public by design, whatever name the sender used.
    expect((await get(`/v1/webhooks/${bucket.inputs[0]?.id}`, `attacker.example:${port}`)).status).toBe(200);
  });

  test("the listening name, PUBLIC_URL's host and ALLOWED_HOSTS are the names served", async () => {
    const { loadConfig } = await import("../../src/process/config.ts");
    const loaded = loadConfig({
      HOST: "Box.lan",
      PUBLIC_URL: "https://hooks.example.com/base",
      ALLOWED_HOSTS: "Logs.Internal",
    });
    if (!loaded.ok) throw new Error(loaded.problems.join());
    expect([...loaded.config.allowedHosts].sort()).toEqual(["box.lan", "hooks.example.com", "logs.internal"]);
    const bound = loadConfig({ HOST: "0.0.0.0" });
    if (!bound.ok) throw new Error(bound.problems.join());
    expect(bound.config.allowedHosts).toEqual([]);
  });

  test("ALLOWED_HOSTS takes host names only", async () => {
    const { loadConfig } = await import("../../src/process/config.ts");
    const loaded = loadConfig({ ALLOWED_HOSTS: "ok.example, http://no.example/" });
    expect(loaded.ok).toBe(false);
    if (!loaded.ok) expect(loaded.problems.join()).toContain("ALLOWED_HOSTS");
  });

  test("a LOGS_TOKEN shorter than 16 characters is a configuration error", async () => {
    const { loadConfig } = await import("../../src/process/config.ts");
    const loaded = loadConfig({ LOGS_TOKEN: "short" });
    expect(loaded.ok).toBe(false);
    if (!loaded.ok) expect(loaded.problems.join()).toContain("LOGS_TOKEN");
  });
});
