/**
 * `GET /logs/api/deliveries?bucket=<name|id>&limit=N`: the relay's recent deliveries of a bucket, newest first,
 * with headers and body, for the page's webhook view; `?hook_id=<X-GitHub-Delivery>`: the delivery behind a
 * hook the processor logged (none when hookstream did not relay it). Webhook bodies can hold anything a sender put in them,
 * so without LOGS_TOKEN this answers loopback clients only. Bodies are cut to a preview size so one request
 * stays bounded however large the stored bodies are. With `redact`, credentials in headers, query and body are
 * masked as in the log stream.
 */
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { z } from "zod";
import { encodeBody } from "../relay/message.ts";
import type { BucketWithInputs, OutputAttempt, RelayStore, StoredDelivery } from "../relay/store.ts";
import { errorBody } from "../transport/errors.ts";
import { type AppEnv, clientAddress } from "../transport/upgrade.ts";
import { MASK_LOOKAHEAD_BYTES, maskBody, maskHeaders, maskQuery } from "./delivery-masking.ts";
import type { LogsAccess } from "./logs-access.ts";

export const MAX_DELIVERIES = 200;
/** Body bytes returned per delivery; longer bodies are cut and marked `body_truncated`. */
export const BODY_PREVIEW_BYTES = 256 * 1024;

export const deliveriesQuerySchema = z.strictObject({
  bucket: z.string().max(200).optional(),
  // The X-GitHub-Delivery of a delivery, which the processor logs as its hook_id.
  hook_id: z.string().min(1).max(200).optional(),
  limit: z
    .string()
    .regex(/^\d{1,3}$/, `must be an integer from 1 to ${MAX_DELIVERIES}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= MAX_DELIVERIES, `must be an integer from 1 to ${MAX_DELIVERIES}`)
    .optional(),
  token: z.string().max(512).optional(),
});

/** Cuts before `limit` at a character boundary, so valid UTF-8 stays valid (and is not sent as base64). */
export function cutAtCharacter(bytes: Uint8Array, limit: number): Uint8Array {
  if (bytes.byteLength <= limit) return bytes;
  let end = limit;
  // Back off over UTF-8 continuation bytes (10xxxxxx) to the start of the character cut in two.
  while (end > 0 && end > limit - 4 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

export function isLoopback(address: string): boolean {
  return (
    address === "127.0.0.1" ||
    address === "::1" ||
    address.startsWith("::ffff:127.") ||
    address.startsWith("127.")
  );
}

/** How an output delivery hookstream makes went, as the Webhooks tab shows it. */
function outcomeView(attempt: OutputAttempt, redact: boolean) {
  return {
    name: attempt.outputName,
    destination: attempt.destination,
    state: attempt.state,
    attempts: attempt.attempts,
    status: attempt.status,
    error: attempt.error,
    response_body: redact
      ? new TextDecoder().decode(maskBody(new TextEncoder().encode(attempt.responseBody)))
      : attempt.responseBody,
    next_attempt_at: attempt.nextAt === null ? null : new Date(attempt.nextAt).toISOString(),
    updated_at: new Date(attempt.updatedAt).toISOString(),
  };
}

export interface DeliveriesRouteDeps {
  store: RelayStore;
  access: LogsAccess;
  /** Mask credentials (REDACT_SECRETS). */
  redact: boolean;
  describeIssue: (error: { issues: readonly z.core.$ZodIssue[] }) => { field: string; message: string };
}

export function createDeliveriesRoutes(deps: DeliveriesRouteDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get(
    "/logs/api/deliveries",
    zValidator("query", deliveriesQuerySchema, (result, c) => {
      if (result.success) return;
      const { field, message } = deps.describeIssue(result.error);
      return c.json(errorBody(message, { field }), 400);
    }),
    async (c) => {
      if (!deps.access.required && !isLoopback(clientAddress(c))) {
        return c.json(
          errorBody("Webhook deliveries are shown to other hosts only when LOGS_TOKEN is set"),
          403,
        );
      }
      const { bucket: wanted, limit = 50, hook_id: hookId } = c.req.valid("query");
      const buckets = await deps.store.listBuckets();
      const bucket =
        wanted === undefined
          ? buckets[0]
          : buckets.find((candidate) => candidate.id === wanted || candidate.name === wanted);
      if (wanted !== undefined && bucket === undefined)
        return c.json(errorBody(`Unknown bucket "${wanted}"`, { field: "bucket" }), 404);
      // By hook id: the delivery with that X-GitHub-Delivery in any bucket (or the one asked for).
      const searched =
        hookId === undefined ? [] : wanted === undefined ? buckets : [bucket as BucketWithInputs];
      const found: Array<{ delivery: StoredDelivery; bucket: BucketWithInputs }> = [];
      for (const candidate of searched) {
        const delivery = await deps.store.deliveryByGithubId(candidate.id, hookId as string);
        if (delivery !== null) found.push({ delivery, bucket: candidate });
      }
      const stored =
        hookId !== undefined
          ? found
          : bucket === undefined
            ? []
            : (await deps.store.recentDeliveries(bucket.id, limit)).map((delivery) => ({ delivery, bucket }));
      const attempts = Map.groupBy(
        await deps.store.outputAttempts(stored.map(({ delivery }) => delivery.id)),
        (attempt) => attempt.deliveryId,
      );
      return c.json({
        buckets: buckets.map(({ id, name }) => ({ id, name })),
        ...(hookId === undefined ? {} : { hook_id: hookId }),
        deliveries: stored.map(({ delivery, bucket }) => {
          const names = new Map(bucket.inputs.map((input) => [input.id, input.name]));
          const truncated = delivery.body.byteLength > BODY_PREVIEW_BYTES;
          const preview = deps.redact
            ? cutAtCharacter(
                maskBody(cutAtCharacter(delivery.body, BODY_PREVIEW_BYTES + MASK_LOOKAHEAD_BYTES)),
                BODY_PREVIEW_BYTES,
              )
            : cutAtCharacter(delivery.body, BODY_PREVIEW_BYTES);
          const { body, encoding } = encodeBody(preview);
          return {
            id: delivery.id,
            bucket_id: delivery.bucketId,
            bucket_name: bucket.name,
            input_id: delivery.inputId,
            input_name: names.get(delivery.inputId) ?? "",
            method: delivery.method,
            query: deps.redact ? maskQuery(delivery.query) : delivery.query,
            headers: deps.redact ? maskHeaders(delivery.headers) : delivery.headers,
            body,
            ...(encoding ? { body_encoding: encoding } : {}),
            ...(truncated ? { body_truncated: true, body_bytes: delivery.body.byteLength } : {}),
            received_at: new Date(delivery.receivedAt).toISOString(),
            source_ip: delivery.sourceAddress,
            ...(delivery.replayOf === undefined ? {} : { replay_of: delivery.replayOf }),
            ...(attempts.has(delivery.id)
              ? { outputs: (attempts.get(delivery.id) ?? []).map((a) => outcomeView(a, deps.redact)) }
              : {}),
          };
        }),
      });
    },
  );
  return routes;
}
