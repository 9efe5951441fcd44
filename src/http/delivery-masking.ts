/**
 * A stored delivery as the Webhooks tab shows it: credentials masked like in every log entry a reader sees.
 * The relay socket is not masked: its clients replay deliveries to their own servers and need the bytes sent.
 * Pure.
 */
import { MASK, redactSecrets } from "../logs/redact.ts";
import { encodeBody } from "../relay/message.ts";

/** Header and query parameter names whose values are credentials whatever they look like. */
const CREDENTIAL_NAME =
  /^(?:proxy-)?authorization$|cookie|token|secret|passw(?:or)?d|api[-_]?key|session|credential/i;

/** `Bearer x`, `Basic x`: the scheme is kept (it says what kind of credential was sent), the rest masked. */
const AUTH_SCHEME = /^([A-Za-z][\w.+-]*)\s+\S/;

/**
 * Bytes past the preview masked with it: a secret that the preview cuts in two is masked as a whole (every
 * secret shape is far shorter than this), so the preview never ends in an unmasked first part of one.
 */
export const MASK_LOOKAHEAD_BYTES = 4096;

function maskCredential(value: string): string {
  const scheme = AUTH_SCHEME.exec(value);
  return scheme ? `${scheme[1]} ${MASK}` : MASK;
}

export function maskHeaders(headers: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null);
  for (const [name, values] of Object.entries(headers)) {
    out[name] = values.map(CREDENTIAL_NAME.test(name) ? maskCredential : redactSecrets);
  }
  return out;
}

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll("+", " "));
  } catch {
    return name; // not valid percent-encoding: judged as written
  }
}

/** A raw query string with the values of credential-named parameters masked, and secrets in any other. */
export function maskQuery(query: string): string {
  return query
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      if (equals !== -1 && CREDENTIAL_NAME.test(decodedName(pair.slice(0, equals))))
        return `${pair.slice(0, equals + 1)}${MASK}`;
      return redactSecrets(pair);
    })
    .join("&");
}

/**
 * `body` with secrets masked: UTF-8 text as text, other bytes as Latin-1, where every secret shape (ASCII)
 * keeps its bytes. The same array when nothing was masked.
 */
export function maskBody(body: Uint8Array): Uint8Array {
  const { body: text, encoding } = encodeBody(body);
  if (encoding === undefined) {
    const masked = redactSecrets(text);
    return masked === text ? body : new TextEncoder().encode(masked);
  }
  const latin1 = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("latin1");
  const masked = redactSecrets(latin1);
  return masked === latin1 ? body : Buffer.from(masked, "latin1");
}
