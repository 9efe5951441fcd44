/**
 * What a relay client reads on `/v1/socket`, parsed without trusting it: a server that sends something else
 * is reported, never crashes the client. Pure.
 */

/** A webhook as the socket carries it, with its body decoded to the exact bytes received. */
export interface WebhookFrame {
  id: string;
  bucketId: string;
  bucketName: string;
  inputId: string;
  /** Resumes right after this delivery; null from a server without cursors. */
  cursor: string | null;
  method: string;
  headers: Record<string, string[]>;
  query: string;
  body: Uint8Array;
  /** Set on a re-sent stored delivery: the id of the original. */
  replayOf: string | null;
  /** The output this message is for; empty for a bucket without outputs. */
  outputName: string;
  outputDestination: string;
  /** Set while the sender waits for the app's answer (response passthrough): how long, in ms. */
  passthroughMs: number | null;
}

export type ServerFrame =
  | { kind: "webhook"; webhook: WebhookFrame }
  | { kind: "status"; status: string; message: string; fields: Record<string, unknown> }
  | { kind: "invalid"; reason: string };

const encoder = new TextEncoder();

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function headersOf(value: unknown): Record<string, string[]> | null {
  if (!isRecord(value)) return null;
  const out: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(value)) {
    if (typeof values === "string") out[name] = [values];
    else if (Array.isArray(values) && values.every((v) => typeof v === "string")) out[name] = values;
    else return null;
  }
  return out;
}

/** A server's text frame as a JSON object, or why it is not one. Both socket protocols send only objects. */
export function parseJsonObject(
  text: string,
): { ok: true; value: Record<string, unknown> } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `not JSON (${(error as Error).message})` };
  }
  return isRecord(value) ? { ok: true, value } : { ok: false, reason: "not a JSON object" };
}

export function parseServerFrame(text: string): ServerFrame {
  const parsed = parseJsonObject(text);
  if (!parsed.ok) return { kind: "invalid", reason: parsed.reason };
  const value = parsed.value;
  if (value.type === "status" && typeof value.status === "string")
    return {
      kind: "status",
      status: value.status,
      message: typeof value.message === "string" ? value.message : "",
      fields: value,
    };
  if (value.type !== "webhook")
    return { kind: "invalid", reason: `unknown message type ${String(value.type)}` };
  const meta = value.meta;
  const headers = headersOf(value.headers);
  if (!isRecord(meta) || typeof meta.id !== "string" || headers === null || typeof value.body !== "string")
    return { kind: "invalid", reason: "webhook without meta.id, headers or body" };
  const base64 = value.body_encoding === "base64";
  return {
    kind: "webhook",
    webhook: {
      id: meta.id,
      bucketId: typeof meta.bucked_id === "string" ? meta.bucked_id : "",
      bucketName: typeof meta.bucket_name === "string" ? meta.bucket_name : "",
      inputId: typeof meta.input_id === "string" ? meta.input_id : "",
      cursor: typeof value.cursor === "string" ? value.cursor : null,
      method: typeof value.method === "string" && value.method !== "" ? value.method : "POST",
      headers,
      query: typeof value.query === "string" ? value.query : "",
      body: base64 ? new Uint8Array(Buffer.from(value.body, "base64")) : encoder.encode(value.body),
      replayOf: isRecord(value.replay) && typeof value.replay.of === "string" ? value.replay.of : null,
      outputName: typeof meta.output_name === "string" ? meta.output_name : "",
      outputDestination: typeof meta.output_destination === "string" ? meta.output_destination : "",
      passthroughMs:
        isRecord(value.passthrough) && typeof value.passthrough.timeout_ms === "number"
          ? value.passthrough.timeout_ms
          : null,
    },
  };
}

/**
 * Headers of the app's answer that do not describe its body as passed on: fetch has already decoded a
 * compressed body, and the server frames the response itself.
 */
const NOT_PASSED_ON = new Set(["content-encoding", "content-length", "transfer-encoding", "connection"]);

/** The `response` frame carrying the app's answer to a webhook whose sender waits for it. */
export function answerFrame(id: string, status: number, headers: Headers, body: Uint8Array): string {
  const collected: Record<string, string[]> = {};
  for (const [name, value] of headers) {
    if (NOT_PASSED_ON.has(name)) continue;
    const values = collected[name];
    if (values === undefined) collected[name] = [value];
    else values.push(value);
  }
  return JSON.stringify({
    action: "response",
    id,
    status,
    headers: collected,
    body: Buffer.from(body).toString("base64"),
    body_encoding: "base64",
  });
}

/**
 * The WebSocket URL of a server given as `http(s)://host[:port][/prefix]` (or already `ws(s)://`), with
 * `path` appended to whatever prefix a reverse proxy adds. Throws on anything else.
 */
export function socketUrl(server: string, path: string): URL {
  const url = new URL(server);
  const schemes: Record<string, string> = { "http:": "ws:", "https:": "wss:", "ws:": "ws:", "wss:": "wss:" };
  const scheme = schemes[url.protocol];
  if (scheme === undefined) throw new TypeError(`unsupported scheme ${url.protocol} (use http or https)`);
  url.protocol = scheme;
  if (!url.pathname.endsWith(path)) url.pathname = `${url.pathname.replace(/\/+$/, "")}${path}`;
  return url;
}
