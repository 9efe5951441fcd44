/**
 * Relay test helpers over a real test server: an admin token issued straight into the server's database (as
 * the CLI does), admin API calls, webhook posts, and socket clients that authenticate and subscribe.
 */
import { join } from "node:path";
import { issueToken } from "../../src/relay/manage.ts";
import type { RelayStats } from "../../src/relay/relay.ts";
import { openSqliteStore } from "../../src/relay/sqlite-store.ts";
import type { RelayStore } from "../../src/relay/store.ts";
import { type RawWebSocket, rawConnect } from "./raw-ws.ts";
import type { TestServer } from "./server.ts";
import { type TestSocket, waitFor, wsConnect } from "./ws.ts";

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
  /**
   * Connects, authenticates and subscribes (after `cursor` when given); resolves after the `subscribed`
   * status.
   */
  subscribed(credentials: Credentials, buckets?: string[] | null, cursor?: string): Promise<TestSocket>;
  [Symbol.asyncDispose](): Promise<void>;
}

export const authHeader = ({ key, secret }: Credentials) => `Bearer ${key}:${secret}`;

export interface RelayFixtureOptions {
  /** The store the server uses, shared (cluster mode); default: a second connection to its SQLite file. */
  store?: RelayStore;
  /** An admin token issued before; default: a new one. */
  admin?: Credentials;
}

export async function relayFixture(
  server: Pick<TestServer, "dataDir" | "httpUrl" | "wsUrl">,
  options: RelayFixtureOptions = {},
): Promise<RelayFixture> {
  const ownsStore = options.store === undefined;
  const store = options.store ?? openSqliteStore(join(server.dataDir, "hookstream.db"));
  const admin = options.admin ?? (await issueAdmin(store));

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
    async subscribed(credentials, buckets, cursor) {
      const socket = await authenticated(credentials);
      socket.send(JSON.stringify(subscribeFrame(buckets, cursor)));
      const status = await socket.nextJson();
      if (status.status !== "subscribed") throw new Error(`not subscribed: ${JSON.stringify(status)}`);
      return socket;
    },
    async [Symbol.asyncDispose]() {
      if (ownsStore) await store.close();
    },
  };
}

/** An admin token issued straight into the store, as `bun run cli token create --admin` does. */
export async function issueAdmin(store: RelayStore): Promise<Credentials> {
  const issued = await issueToken(store, { admin: true });
  if (!issued.ok) throw new Error(issued.message);
  return { key: issued.value.token.key, secret: issued.value.secret };
}

export function subscribeFrame(buckets?: string[] | null, cursor?: string) {
  return {
    action: "subscribe",
    ...(buckets === undefined ? {} : { buckets }),
    ...(cursor === undefined ? {} : { cursor }),
  };
}

/** The relay section of `/health`. */
export async function relayHealth(server: TestServer): Promise<RelayStats> {
  const health = (await (await fetch(server.httpUrl("/health"))).json()) as { relay: RelayStats };
  return health.relay;
}

/** Writes one masked text frame, as a client must, on a raw socket. */
export function rawSend(client: RawWebSocket, text: string): void {
  client.socket.write(maskedFrame(text));
}

/** A client's text frame: masked, as RFC 6455 requires of clients. */
export function maskedFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from(crypto.getRandomValues(new Uint8Array(4)));
  const length = payload.length;
  const head =
    length < 126
      ? Buffer.from([0x81, 0x80 | length])
      : length < 65536
        ? Buffer.from([0x81, 0x80 | 126, length >> 8, length & 0xff])
        : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), bigEndian64(length)]);
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([head, mask, masked]);
}

function bigEndian64(value: number): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(BigInt(value));
  return buffer;
}

/**
 * A raw relay client (one that can really stop reading): connected, authenticated and subscribed when it
 * resolves. Its `messages` start with the `authenticated` and `subscribed` statuses.
 */
export async function rawRelayClient(
  server: TestServer,
  credentials: Credentials,
  buckets?: string[] | null,
  cursor?: string,
): Promise<RawWebSocket> {
  const client = await rawConnect(server.server.port as number, "/v1/socket");
  rawSend(client, JSON.stringify({ action: "auth", ...credentials }));
  rawSend(client, JSON.stringify(subscribeFrame(buckets, cursor)));
  await waitFor(() => client.messages.length >= 2 || client.close !== null, 5000, "raw client subscribed");
  const status = JSON.parse(client.messages[1] ?? "{}") as { status?: string };
  if (status.status !== "subscribed") throw new Error(`raw client not subscribed: ${client.messages.join()}`);
  return client;
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
  /** Resumes right after this delivery: `{"action":"subscribe",...,"cursor":"<c>"}`. */
  cursor: string;
  headers: Record<string, string[]>;
  query: string;
  body: string;
  body_encoding?: "base64";
  method: string;
}

/** The webhooks a raw client received so far, in order, skipping status messages. */
export const rawWebhooks = (client: RawWebSocket): WebhookMessage[] =>
  client.messages
    .map((raw) => JSON.parse(raw) as WebhookMessage | { type: "status"; status: string })
    .filter((message): message is WebhookMessage => message.type === "webhook");

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
