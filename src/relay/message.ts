/**
 * The server → client messages of `/v1/socket`, serialised with the exact field names and order Webhook
 * Relay's clients expect. Pure.
 */

export type StatusKind = "authenticated" | "unauthorized" | "subscribed" | "error" | "ping" | "live";

export function statusMessage(status: StatusKind, message?: string): string {
  return JSON.stringify(
    message === undefined ? { type: "status", status } : { type: "status", status, message },
  );
}

export const AUTHENTICATED = statusMessage("authenticated", "connected successfully, subscribe to buckets");
export const PING = statusMessage("ping");
/** Sent once, when a client that subscribed with a cursor has every stored delivery and is live. */
export const LIVE = statusMessage("live", "caught up: live from here");

/**
 * Told to a client that subscribed with a cursor when deliveries after it are gone (retention) or the cursor
 * is unknown to this database. `resumed_from` is the cursor of the first delivery sent next (or, when none is
 * stored, a position every later delivery follows): deliveries between the two are not sent.
 */
export function gapMessage(requested: string, resumedFrom: string, message: string): string {
  return JSON.stringify({
    type: "status",
    status: "gap",
    message,
    requested,
    resumed_from: resumedFrom,
  });
}

export interface WebhookMeta {
  id: string;
  bucketId: string;
  bucketName: string;
  inputId: string;
  inputName: string;
}

export interface EncodedBody {
  body: string;
  /** Set only when the bytes are not valid UTF-8; old clients never see the field for text bodies. */
  encoding?: "base64";
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The body as a string that round-trips to the same bytes: the UTF-8 text itself (a byte-order mark kept),
 * or base64 when the bytes are not valid UTF-8.
 */
export function encodeBody(bytes: Uint8Array): EncodedBody {
  try {
    return { body: strictUtf8.decode(bytes) };
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return {
      body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"),
      encoding: "base64",
    };
  }
}

/**
 * `bucked_id` is misspelled on the wire as in the original protocol. hookstream has no outputs: `output_name`
 * and `output_destination` are empty strings, present so clients that read them still find strings.
 * `cursor` (hookstream's, beside `meta`; clients that do not know it ignore it) resumes right after this one.
 * `replay` (likewise) is present only on a stored delivery re-sent by an admin: `{"of": "<original id>"}`.
 */
export function webhookMessage(
  meta: WebhookMeta,
  delivery: {
    method: string;
    headers: Record<string, string[]>;
    query: string;
    body: Uint8Array;
    replayOf?: string;
  },
  cursor: string,
): string {
  const encoded = encodeBody(delivery.body);
  const message: Record<string, unknown> = {
    type: "webhook",
    meta: {
      id: meta.id,
      bucked_id: meta.bucketId,
      bucket_name: meta.bucketName,
      input_id: meta.inputId,
      input_name: meta.inputName,
      output_name: "",
      output_destination: "",
    },
    cursor,
    ...(delivery.replayOf === undefined ? {} : { replay: { of: delivery.replayOf } }),
    headers: delivery.headers,
    query: delivery.query,
    body: encoded.body,
  };
  if (encoded.encoding !== undefined) message.body_encoding = encoded.encoding;
  message.method = delivery.method;
  return JSON.stringify(message);
}
