/**
 * Relay test helpers over a real test server: an admin token issued straight into the server's database (as
 * the CLI does), admin API calls, webhook posts, and socket clients that authenticate and subscribe.
 */
import { join } from "node:path";
import { issueToken } from "../../src/relay/manage.ts";
import { openSqliteStore } from "../../src/relay/sqlite-store.ts";
import type { RelayStore } from "../../src/relay/store.ts";
import type { TestServer } from "./server.ts";
import { type TestSocket, wsConnect } from "./ws.ts";

export const repoRoot = join(import.meta.dir, "..", "..");

export interface Credentials {
  key: string;
  secret: string;
}

export interface CreatedBucket {
  id: string;
  name: string;
  inputs: Array<{ id: string; url: string; name: string }>;
}

export interface RelayFixture {
  /** A second connection to the server's database, like the CLI's. */
  store: RelayStore;
  admin: Credentials;
  api(method: string, path: string, body?: unknown, credentials?: Credentials | null): Promise<Response>;
  createBucket(name: string): Promise<CreatedBucket>;
  createToken(options?: { buckets?: string[]; admin?: boolean }): Promise<Credentials>;
  /** Sends a webhook to the input; returns the response. */
  post(inputId: string, body: BodyInit | null, init?: RequestInit & { query?: string }): Promise<Response>;
  /** Connects and sends `auth`; resolves after the `authenticated` status. */
  authenticated(credentials: Credentials): Promise<TestSocket>;
  /** Connects, authenticates and subscribes; resolves after the `subscribed` status. */
  subscribed(credentials: Credentials, buckets?: string[] | null): Promise<TestSocket>;
  [Symbol.asyncDispose](): Promise<void>;
}

export const authHeader = ({ key, secret }: Credentials) => `Bearer ${key}:${secret}`;

export async function relayFixture(server: TestServer): Promise<RelayFixture> {
  const store = openSqliteStore(join(server.dataDir, "hookstream.db"));
  const issued = await issueToken(store, { admin: true });
  if (!issued.ok) throw new Error(issued.message);
  const admin = { key: issued.value.token.key, secret: issued.value.secret };

  const api: RelayFixture["api"] = (method, path, body, credentials = admin) =>
    fetch(server.httpUrl(path), {
      method,
      headers: {
        ...(credentials === null ? {} : { Authorization: authHeader(credentials) }),
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  const authenticated = async (credentials: Credentials) => {
    const socket = await wsConnect(server.wsUrl("/v1/socket"));
    socket.send(JSON.stringify({ action: "auth", ...credentials }));
    const status = await socket.nextJson();
    if (status.status !== "authenticated") throw new Error(`not authenticated: ${JSON.stringify(status)}`);
    return socket;
  };

  return {
    store,
    admin,
    api,
    async createBucket(name) {
      const response = await api("POST", "/v1/buckets", { name });
      if (response.status !== 201)
        throw new Error(`bucket ${name}: ${response.status} ${await response.text()}`);
      return (await response.json()) as CreatedBucket;
    },
    async createToken(options = {}) {
      const response = await api("POST", "/v1/tokens", options);
      if (response.status !== 201) throw new Error(`token: ${response.status} ${await response.text()}`);
      return (await response.json()) as Credentials;
    },
    post(inputId, body, init = {}) {
      const query = init.query === undefined ? "" : `?${init.query}`;
      return fetch(server.httpUrl(`/v1/webhooks/${inputId}${query}`), { method: "POST", ...init, body });
    },
    authenticated,
    async subscribed(credentials, buckets) {
      const socket = await authenticated(credentials);
      socket.send(
        JSON.stringify(buckets === undefined ? { action: "subscribe" } : { action: "subscribe", buckets }),
      );
      const status = await socket.nextJson();
      if (status.status !== "subscribed") throw new Error(`not subscribed: ${JSON.stringify(status)}`);
      return socket;
    },
    async [Symbol.asyncDispose]() {
      await store.close();
    },
  };
}

/** A webhook message as received on the socket. */
export interface WebhookMessage {
  type: "webhook";
  meta: {
    id: string;
    bucked_id: string;
    bucket_name: string;
    input_id: string;
    input_name: string;
    output_name: string;
    output_destination: string;
  };
  headers: Record<string, string[]>;
  query: string;
  body: string;
  body_encoding?: "base64";
  method: string;
}

/** The bytes a webhook message carries, decoding base64 bodies. */
export function bodyBytes(message: WebhookMessage): Uint8Array {
  return message.body_encoding === "base64"
    ? new Uint8Array(Buffer.from(message.body, "base64"))
    : new TextEncoder().encode(message.body);
}

/** Runs `bun src/cli.ts ...` against a data directory; resolves its exit code and output. */
export async function runCli(args: string[], env: Record<string, string>, stdin?: string) {
  const child = Bun.spawn(["bun", "src/cli.ts", ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}
