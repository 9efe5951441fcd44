/**
 * The public input endpoint: `ANY /v1/webhooks/<input-id>`. A delivery is answered with the input's configured
 * response only after it is stored durably; a redelivery (same `X-GitHub-Delivery` in the bucket) gets the same
 * answer without being stored or relayed again. A delivery that could not be stored gets 503 and nothing of it
 * is kept (the disk or the database size cap is full, or too much is waiting to be stored).
 */
import { errorBody, StoreUnavailableError } from "../transport/errors.ts";
import type { Answer } from "./answer-frame.ts";
import { declaredLength, readBodyLimited } from "./body.ts";
import { collectHeaders } from "./headers.ts";
import type { Relay } from "./relay.ts";
import { BODILESS_STATUSES, isRefusedResponseHeader } from "./schemas.ts";
import { verifyGithubSignature } from "./signature.ts";
import { type AppendResult, StorageFullError } from "./store.ts";
import { WriterBusyError } from "./writer.ts";

/** Why a delivery was refused, for the operator's counters; each answer below names its own. */
export const WEBHOOK_REJECTIONS = [
  "unknown_input",
  "too_large",
  "bad_signature",
  "busy",
  "storage_full",
  "store_unavailable",
] as const;
export type WebhookRejection = (typeof WEBHOOK_REJECTIONS)[number];
export type RejectionCounts = Record<WebhookRejection, number>;

export const noRejections = (): RejectionCounts => ({
  unknown_input: 0,
  too_large: 0,
  bad_signature: 0,
  busy: 0,
  storage_full: 0,
  store_unavailable: 0,
});

const json = (body: unknown, status: number, headers: Record<string, string> = {}) =>
  Response.json(body, { status, headers });

/** The raw query string, exactly as sent (no re-encoding through URLSearchParams). */
export function rawQuery(url: string): string {
  const start = url.indexOf("?");
  if (start === -1) return "";
  const end = url.indexOf("#", start);
  return end === -1 ? url.slice(start + 1) : url.slice(start + 1, end);
}

export async function receiveWebhook(
  relay: Relay,
  request: Request,
  inputId: string,
  sourceAddress: string,
  allowWaiting: (ms: number) => void = () => {},
): Promise<Response> {
  const { rejected } = relay;
  const route = await relay.store.resolveInput(inputId).catch((error: unknown) => {
    if (error instanceof StoreUnavailableError) rejected.store_unavailable++;
    throw error;
  });
  if (route === null) {
    rejected.unknown_input++;
    return json(errorBody("Unknown input", { field: "inputId" }), 404);
  }

  const tooLarge = () => {
    rejected.too_large++;
    return json(
      errorBody(`Body larger than ${relay.maxBodyBytes} bytes`, { limit: relay.maxBodyBytes }),
      413,
    );
  };
  const declared = declaredLength(request);
  if (declared !== null && declared > relay.maxBodyBytes) return tooLarge();
  const reserved = declared ?? relay.maxBodyBytes;
  if (!relay.bodies.reserve(reserved)) {
    rejected.busy++;
    return json(errorBody("Too many webhook bodies in flight"), 503, { "Retry-After": "1" });
  }
  let accepted: AppendResult;
  try {
    const read = await readBodyLimited(request, relay.maxBodyBytes);
    if (!read.ok) return tooLarge();

    if (
      route.githubSecret !== null &&
      !verifyGithubSignature(route.githubSecret, read.body, request.headers.get("x-hub-signature-256"))
    ) {
      rejected.bad_signature++;
      return json(errorBody("Missing or invalid X-Hub-Signature-256", { field: "X-Hub-Signature-256" }), 401);
    }

    accepted = await relay.accept(
      {
        bucketId: route.bucket.id,
        inputId: route.input.id,
        githubDelivery: request.headers.get("x-github-delivery"),
        method: request.method,
        headers: collectHeaders(request.headers),
        query: rawQuery(request.url),
        body: read.body,
        sourceAddress,
        receivedAt: Date.now(),
      },
      { bucketName: route.bucket.name, inputName: route.input.name },
    );
  } catch (error) {
    if (error instanceof WriterBusyError) {
      rejected.busy++;
      return json(errorBody(error.message), 503, { "Retry-After": "1" });
    }
    // Nothing of it was stored; the sender may retry once retention or the operator freed space.
    if (error instanceof StorageFullError) {
      rejected.storage_full++;
      return json(errorBody(error.message), 503, { "Retry-After": "30" });
    }
    if (error instanceof StoreUnavailableError) rejected.store_unavailable++;
    throw error;
  } finally {
    relay.bodies.release(reserved);
  }

  // Stored first: whether an answer comes in time only decides what the sender is told. Registered in the
  // step right after the commit, before any agent can have received the message and answered it.
  if (route.input.passthrough && accepted.id !== null) {
    // The sender's connection is idle while the app answers: it must outlive a timeout set past Bun's 10 s.
    allowWaiting(route.input.passthroughTimeoutMs);
    const answer = await relay.passthrough.wait(
      accepted.id,
      route.bucket.id,
      route.input.passthroughTimeoutMs,
    );
    if (answer !== null) return answerResponse(answer);
  }
  const { status, body, headers } = route.input.response;
  return new Response(body === "" ? null : body, { status, headers: sandboxedHeaders(headers) });
}

/**
 * A configured response is served on the log page's origin: sandboxed, so HTML in it runs no script there
 * and a browser does not guess a script type, and without the headers configuration refuses (also when an
 * older version stored them).
 */
export function sandboxedHeaders(configured: Record<string, string | readonly string[]>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(configured))
    if (!isRefusedResponseHeader(name)) for (const one of [value].flat()) headers.append(name, one);
  headers.set("Content-Security-Policy", "sandbox");
  headers.set("X-Content-Type-Options", "nosniff");
  return headers;
}

/**
 * The agent's answer as the sender gets it: sanitised exactly like a configured response (refused headers
 * dropped, sandboxed), and without a body where its status allows none.
 */
export function answerResponse(answer: Answer): Response {
  const body = BODILESS_STATUSES.has(answer.status) || answer.body.byteLength === 0 ? null : answer.body;
  return new Response(body as BodyInit | null, {
    status: answer.status,
    headers: sandboxedHeaders(answer.headers),
  });
}
