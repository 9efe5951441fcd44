/**
 * The shapes the documented APIs answer with, as zod schemas for the OpenAPI document. What requests may
 * carry is not repeated here: the document takes it from the schemas the routes validate with.
 */
import { z } from "zod";

export const errorSchema = z
  .looseObject({
    error: z.string().describe("What went wrong"),
    field: z.string().optional().describe("The parameter, field or header at fault"),
  })
  .describe("The one error shape of every HTTP answer");

const isoTime = z.string().describe("ISO 8601");

export const inputSchema = z.object({
  id: z.string(),
  name: z.string(),
  url: z.string().describe("The public URL webhooks are sent to"),
  response: z.object({
    status: z.number().int(),
    body: z.string(),
    headers: z.record(z.string(), z.string()),
  }),
  has_github_secret: z.boolean(),
  created_at: isoTime,
});

export const bucketSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  created_at: isoTime,
  inputs: z.array(inputSchema),
});

export const tokenSchema = z.object({
  key: z.string().describe("The token's public key (a UUID)"),
  description: z.string().nullable(),
  admin: z.boolean(),
  buckets: z.array(z.string()).nullable().describe("Bucket ids; null: every bucket"),
  created_at: isoTime,
  revoked_at: isoTime.nullable(),
});

export const createdTokenSchema = tokenSchema.extend({
  secret: z.string().describe("Shown only in this answer; stored hashed"),
});

/** A log entry as streamed on /logs/ws; the history adds its stable `id`. */
export const logEntrySchema = z.looseObject({
  timestamp: isoTime,
  level: z.string(),
  logger_name: z.string().nullable(),
  message: z.string(),
  hook_id: z.string().nullable(),
  event_type: z.string().nullable(),
  repository: z.string().nullable(),
  pr_number: z.number().int().nullable(),
  github_user: z.string().nullable(),
  task_id: z.string().nullable(),
  task_type: z.string().nullable(),
  task_status: z.string().nullable(),
  token_spend: z.number().nullable(),
  truncated: z.boolean().optional(),
});

export const historyEntrySchema = logEntrySchema.extend({
  id: z.string().describe("Stable id: file identity and offset"),
});

export const historyPageSchema = z.object({
  entries: z.array(historyEntrySchema).describe("Newest first"),
  next_cursor: z.string().nullable().describe("Pass as `cursor` for the next (older) page; null: no more"),
  complete: z.boolean().describe("false: the time budget ran out before every file was searched"),
  chunks_read: z.number().int(),
  took_ms: z.number().int(),
});

export const deliveriesPageSchema = z.object({
  buckets: z.array(z.object({ id: z.string(), name: z.string() })),
  deliveries: z.array(
    z.object({
      id: z.string(),
      bucket_id: z.string(),
      bucket_name: z.string(),
      input_id: z.string(),
      input_name: z.string(),
      method: z.string(),
      query: z.string(),
      headers: z.record(z.string(), z.array(z.string())),
      body: z.string(),
      body_encoding: z.literal("base64").optional(),
      body_truncated: z.boolean().optional(),
      body_bytes: z.number().int().optional(),
      received_at: isoTime,
      source_ip: z.string(),
    }),
  ),
});
