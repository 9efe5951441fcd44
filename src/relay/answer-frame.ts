/**
 * The opt-in `response` frame of `/v1/socket`: an agent's answer to a webhook whose sender waits for it
 * (response passthrough), keyed by the delivery's id. Pure.
 *
 *   {"action":"response","id":"<meta.id>","status":200,"headers":{"Content-Type":["text/plain"]},
 *    "body":"...","body_encoding":"base64"}
 *
 * `headers` maps names to a list of values (or one string), as webhook messages do; `body` is text, or
 * base64 with `body_encoding`. Both are optional.
 */
import { MAX_RESPONSE_BODY_CHARS, MAX_RESPONSE_HEADERS } from "./schemas.ts";

export interface Answer {
  status: number;
  headers: Record<string, string[]>;
  body: Uint8Array;
}

/** Bytes of an answer's body: the limit of a configured response, which it stands in for. */
export const MAX_ANSWER_BODY_BYTES = MAX_RESPONSE_BODY_CHARS;
/** Delivery ids are short (a number, or `<ms>-<seq>` in cluster mode). */
const MAX_ID_CHARS = 64;

export type ParsedAnswer = { ok: true; id: string; answer: Answer } | { ok: false; message: string };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

export function parseAnswerFrame(frame: Record<string, unknown>): ParsedAnswer {
  const { id, status, headers, body, body_encoding: encoding } = frame;
  if (typeof id !== "string" || id === "" || id.length > MAX_ID_CHARS)
    return { ok: false, message: '"id" must be the meta.id of a webhook message' };
  if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599)
    return { ok: false, message: '"status" must be an integer from 200 to 599' };
  const collected: Record<string, string[]> = Object.create(null);
  if (headers !== undefined && headers !== null) {
    if (!isRecord(headers)) return { ok: false, message: '"headers" must map names to lists of values' };
    const entries = Object.entries(headers);
    if (entries.length > MAX_RESPONSE_HEADERS)
      return { ok: false, message: `at most ${MAX_RESPONSE_HEADERS} headers` };
    for (const [name, values] of entries) {
      const list = typeof values === "string" ? [values] : values;
      if (
        !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) ||
        !Array.isArray(list) ||
        !list.every((v): v is string => typeof v === "string" && !/[\r\n\0]/.test(v))
      )
        return { ok: false, message: `header "${name.slice(0, 64)}" is not a valid name with string values` };
      collected[name] = list;
    }
  }
  if (body !== undefined && body !== null && typeof body !== "string")
    return { ok: false, message: '"body" must be a string' };
  if (encoding !== undefined && encoding !== null && encoding !== "base64")
    return { ok: false, message: '"body_encoding" must be "base64" when present' };
  const text = body ?? "";
  const bytes =
    encoding === "base64" ? new Uint8Array(Buffer.from(text, "base64")) : new TextEncoder().encode(text);
  if (bytes.byteLength > MAX_ANSWER_BODY_BYTES)
    return { ok: false, message: `the answer's body is larger than ${MAX_ANSWER_BODY_BYTES} bytes` };
  return { ok: true, id, answer: { status, headers: collected, body: bytes } };
}
