/**
 * Reads a request body without ever holding more than `maxBytes` of it: a declared Content-Length over the
 * limit is refused before reading, and a chunked body is counted while it streams and abandoned at the limit.
 */
export type BodyResult = { ok: true; body: Uint8Array } | { ok: false; tooLarge: true };

const TOO_LARGE: BodyResult = { ok: false, tooLarge: true };
const EMPTY = new Uint8Array(0);

/** The Content-Length the sender declared, or null for a chunked (or malformed) one. */
export function declaredLength(request: Request): number | null {
  const declared = request.headers.get("content-length");
  return declared !== null && /^\d+$/.test(declared) ? Number(declared) : null;
}

export async function readBodyLimited(request: Request, maxBytes: number): Promise<BodyResult> {
  const declared = declaredLength(request);
  if (declared !== null) {
    if (declared > maxBytes) return TOO_LARGE;
    // The server enforces the declared length, so this reads at most `declared` bytes.
    return { ok: true, body: await request.bytes() };
  }
  if (request.body === null) return { ok: true, body: EMPTY };

  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel("body too large");
      return TOO_LARGE;
    }
    chunks.push(value);
  }
  if (chunks.length === 1 && chunks[0] !== undefined) return { ok: true, body: chunks[0] };
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { ok: true, body };
}
