/**
 * Validation of what the admin API and the CLI accept. Shared so both refuse the same things.
 */
import { z } from "zod";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Names are matched against ids on subscribe, listed comma-separated in status messages and used on the command
 * line: so a plain slug, never shaped like an id.
 */
export const bucketNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
  )
  .refine((name) => !UUID.test(name), "must not look like a bucket id");

const headerName = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, "not a valid header name");
const headerValue = z.string().regex(/^[^\r\n\0]*$/, "header values cannot hold line breaks");

/**
 * Headers a configured response may not set (lower case). Inputs are served on the dashboard's origin, so a
 * cookie or a weakened sandbox there would reach the log reader's session; credentials and the framing of the
 * connection are the server's business, not the input's.
 */
const REFUSED_RESPONSE_HEADERS = new Set([
  // Cookies and credentials.
  "set-cookie",
  "set-cookie2",
  "www-authenticate",
  "proxy-authenticate",
  "authorization",
  "proxy-authorization",
  "clear-site-data",
  // Hop-by-hop and framing.
  "connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  // What keeps a response from acting on the origin: sent by the server on every configured response.
  "content-security-policy",
  "x-content-type-options",
  "service-worker-allowed",
]);

export function isRefusedResponseHeader(name: string): boolean {
  return REFUSED_RESPONSE_HEADERS.has(name.toLowerCase());
}

/** Sizes of a configured response: it is held in memory and sent on every delivery. */
export const MAX_RESPONSE_BODY_CHARS = 64 * 1024;
export const MAX_RESPONSE_HEADERS = 32;

export const inputResponseSchema = z
  .object({
    status: z.number().int().min(200).max(599).optional(),
    body: z.string().max(MAX_RESPONSE_BODY_CHARS).optional(),
    headers: z
      .unknown()
      // A valid header name, but zod's record skips it without a word: refuse it here instead.
      .superRefine((headers, context) => {
        if (typeof headers === "object" && headers !== null && Object.hasOwn(headers, "__proto__"))
          context.addIssue({
            code: "custom",
            path: ["__proto__"],
            message: "__proto__ cannot be configured as a header name",
          });
      })
      .pipe(z.record(headerName, headerValue))
      .refine((h) => Object.keys(h).length <= MAX_RESPONSE_HEADERS, `at most ${MAX_RESPONSE_HEADERS} headers`)
      .superRefine((headers, context) => {
        for (const name of Object.keys(headers))
          if (isRefusedResponseHeader(name))
            context.addIssue({
              code: "custom",
              path: [name],
              message: `${name} cannot be configured: inputs are served on the log page's origin`,
            });
      })
      .optional(),
  })
  .strict();

/** Statuses whose responses cannot carry a body. */
export const BODILESS_STATUSES = new Set([204, 205, 304]);

export const githubSecretSchema = z.string().min(1).max(256);

export const createBucketSchema = z
  .object({ name: bucketNameSchema, description: z.string().max(500).optional() })
  .strict();

export const addInputSchema = z.object({ name: z.string().min(1).max(100) }).strict();

/**
 * Longest a sender may be kept waiting for the agent's answer: its request, and the body budget it reserved,
 * stay open that long. GitHub itself gives up after 10 s (the default).
 */
export const MAX_PASSTHROUGH_TIMEOUT_MS = 30_000;

export const updateInputSchema = z
  .object({
    name: z.string().min(1).max(100).optional(),
    response: inputResponseSchema.optional(),
    /** A string sets the secret, null removes it. */
    github_secret: githubSecretSchema.nullable().optional(),
    passthrough: z.boolean().optional(),
    passthrough_timeout_ms: z.number().int().min(100).max(MAX_PASSTHROUGH_TIMEOUT_MS).optional(),
  })
  .strict();

/** Output names are shown in every message and chosen on the command line (`forward --output`): a slug. */
export const outputNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
  );

/**
 * Every subscriber of the bucket sees an output's destination in its messages, so it may hold no
 * credentials; hookstream sends requests to it, so only http(s).
 */
export const outputDestinationSchema = z
  .string()
  .max(2048)
  .superRefine((value, context) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      context.addIssue({ code: "custom", message: "must be an absolute http or https URL" });
      return;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      context.addIssue({ code: "custom", message: "must be an http or https URL" });
    else if (url.username !== "" || url.password !== "")
      context.addIssue({
        code: "custom",
        message: "must not hold credentials: subscribers of the bucket see the destination",
      });
  });

export const createOutputSchema = z
  .object({
    name: outputNameSchema,
    destination: outputDestinationSchema,
    /** Who sends the webhooks there: hookstream itself (default), or an agent (`hookstream forward`). */
    delivered_by: z.enum(["hookstream", "agent"]).optional(),
  })
  .strict();

export const createTokenSchema = z
  .object({
    /** Names or ids; absent or null: every bucket, present and future. */
    buckets: z.array(z.string().min(1)).max(1000).nullable().optional(),
    admin: z.boolean().optional(),
    description: z.string().max(500).optional(),
  })
  .strict();

/** Names the first problem of a failed validation: `{field, message}` for the one error shape. */
export function describeIssue(error: { issues: readonly z.core.$ZodIssue[] }): {
  field: string;
  message: string;
} {
  const issue = error.issues[0];
  if (issue === undefined) return { field: "body", message: "invalid body" };
  if (issue.code === "unrecognized_keys") {
    const field = [...issue.path, issue.keys[0] ?? ""].join(".");
    return { field, message: `unknown field "${field}"` };
  }
  const field = issue.path.length === 0 ? "body" : issue.path.join(".");
  return { field, message: `${field}: ${issue.message}` };
}
