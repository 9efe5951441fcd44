/**
 * The relay's HTTP surface, mounted by createApp:
 * - `ANY /v1/webhooks/:inputId`: public input endpoints (no auth; optional GitHub signature per input)
 * - `GET /v1/socket`: the relay WebSocket (auth happens in-band, see protocol.ts)
 * - `/v1/buckets`, `/v1/tokens`: the admin API, for tokens with admin scope, sent as
 *   `Authorization: Bearer <key>:<secret>` (or HTTP Basic with key as user and secret as password)
 */
import { zValidator } from "@hono/zod-validator";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import type { ConnectionLimiter } from "../transport/connections.ts";
import { errorBody } from "../transport/errors.ts";
import { allowRequestTime } from "../transport/request-time.ts";
import { type AppEnv, clientAddress, upgradeToSession } from "../transport/upgrade.ts";
import { receiveWebhook } from "./input.ts";
import { addOutput, configureInput, issueToken, type Outcome, removeOutput } from "./manage.ts";
import type { Relay } from "./relay.ts";
import { replayDelivery } from "./replay.ts";
import {
  addInputSchema,
  createBucketSchema,
  createOutputSchema,
  createTokenSchema,
  describeIssue,
  updateInputSchema,
} from "./schemas.ts";
import { NameTakenError } from "./store.ts";
import { parseAuthorization } from "./tokens.ts";
import { bucketView, inputView, outputView, tokenView } from "./views.ts";

export interface RelayRouteDeps {
  relay: Relay;
  limiter: ConnectionLimiter;
  isShuttingDown: () => boolean;
}

const validJson = <T extends z.ZodType>(schema: T) =>
  zValidator("json", schema, (result, c) => {
    if (result.success) return;
    const { field, message } = describeIssue(result.error);
    return c.json(errorBody(message, { field }), 400);
  });

const failure = (c: Context<AppEnv>, outcome: Extract<Outcome<unknown>, { ok: false }>) =>
  c.json(errorBody(outcome.message, { field: outcome.field }), outcome.status);

function adminOnly(relay: Relay): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const credentials = parseAuthorization(c.req.header("authorization"));
    if (credentials === null)
      return c.json(errorBody("Authorization required: Bearer <key>:<secret> of an admin token"), 401, {
        "WWW-Authenticate": 'Bearer realm="hookstream"',
      });
    const token = await relay.authenticate(clientAddress(c), credentials);
    if (token === "rate_limited")
      return c.json(errorBody("too many failed attempts"), 429, { "Retry-After": "60" });
    if (token === null)
      return c.json(errorBody("invalid key or secret"), 401, {
        "WWW-Authenticate": 'Bearer realm="hookstream"',
      });
    if (!token.admin) return c.json(errorBody("this token has no admin scope"), 403);
    await next();
  };
}

export function createRelayRoutes({ relay, limiter, isShuttingDown }: RelayRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.all("/v1/webhooks/:inputId", (c) =>
    receiveWebhook(relay, c.req.raw, c.req.param("inputId"), clientAddress(c), (ms) =>
      allowRequestTime(c, ms),
    ),
  );

  app.get("/v1/socket", (c) => {
    if (isShuttingDown()) return c.json(errorBody("Server shutting down"), 503);
    const address = clientAddress(c);
    return upgradeToSession(c, limiter, () => relay.createSession(address));
  });

  app.use("/v1/buckets", adminOnly(relay));
  app.use("/v1/buckets/*", adminOnly(relay));
  app.use("/v1/tokens", adminOnly(relay));
  app.use("/v1/tokens/*", adminOnly(relay));
  addBucketRoutes(app, relay);
  addOutputRoutes(app, relay);
  addTokenRoutes(app, relay);

  // Malformed JSON bodies surface from Hono's validator as HTTPException: answer them in the one error shape.
  app.onError((error, c) => {
    if (error instanceof HTTPException)
      return c.json(errorBody(error.message || "Bad request"), error.status as ContentfulStatusCode);
    throw error;
  });

  return app;
}

/** Buckets and their inputs (admin only: the caller guards the paths). */
function addBucketRoutes(app: Hono<AppEnv>, relay: Relay): void {
  const { store } = relay;
  const urlOf = (inputId: string) => relay.inputUrl(inputId);

  app.post("/v1/buckets", validJson(createBucketSchema), async (c) => {
    const { name, description } = c.req.valid("json");
    try {
      return c.json(bucketView(await store.createBucket(name, description), urlOf), 201);
    } catch (error) {
      if (error instanceof NameTakenError) return c.json(errorBody(error.message, { field: "name" }), 409);
      throw error;
    }
  });

  app.get("/v1/buckets", async (c) => c.json((await store.listBuckets()).map((b) => bucketView(b, urlOf))));

  app.get("/v1/buckets/:bucket", async (c) => {
    const bucket = await store.findBucket(c.req.param("bucket"));
    if (bucket === null) return c.json(errorBody("Unknown bucket", { field: "bucket" }), 404);
    return c.json(bucketView(bucket, urlOf));
  });

  app.delete("/v1/buckets/:bucket", async (c) => {
    const bucket = await store.findBucket(c.req.param("bucket"));
    if (bucket === null || !(await store.deleteBucket(bucket.id)))
      return c.json(errorBody("Unknown bucket", { field: "bucket" }), 404);
    return c.body(null, 204);
  });

  app.post("/v1/buckets/:bucket/inputs", validJson(addInputSchema), async (c) => {
    const bucket = await store.findBucket(c.req.param("bucket"));
    const input = bucket === null ? null : await store.addInput(bucket.id, c.req.valid("json").name);
    if (input === null) return c.json(errorBody("Unknown bucket", { field: "bucket" }), 404);
    return c.json(inputView(input, urlOf(input.id)), 201);
  });

  app.put("/v1/buckets/:bucket/inputs/:inputId", validJson(updateInputSchema), async (c) => {
    const bucket = await store.findBucket(c.req.param("bucket"));
    if (bucket === null) return c.json(errorBody("Unknown bucket", { field: "bucket" }), 404);
    const body = c.req.valid("json");
    const outcome = await configureInput(
      store,
      c.req.param("inputId"),
      {
        name: body.name,
        response: body.response,
        githubSecret: body.github_secret,
        passthrough: body.passthrough,
        passthroughTimeoutMs: body.passthrough_timeout_ms,
      },
      bucket.id,
    );
    if (!outcome.ok) return failure(c, outcome);
    await relay.outputs.refresh();
    return c.json(inputView(outcome.value, urlOf(outcome.value.id)));
  });
}

/** A bucket's outputs, and replaying one of its deliveries (admin only). */
function addOutputRoutes(app: Hono<AppEnv>, relay: Relay): void {
  const { store } = relay;

  app.post("/v1/buckets/:bucket/outputs", validJson(createOutputSchema), async (c) => {
    const body = c.req.valid("json");
    const outcome = await addOutput(store, c.req.param("bucket"), {
      name: body.name,
      destination: body.destination,
      deliveredBy: body.delivered_by ?? "hookstream",
    });
    if (!outcome.ok) return failure(c, outcome);
    await relay.outputs.refresh();
    return c.json(outputView(outcome.value), 201);
  });

  app.get("/v1/buckets/:bucket/outputs", async (c) => {
    const bucket = await store.findBucket(c.req.param("bucket"));
    if (bucket === null) return c.json(errorBody("Unknown bucket", { field: "bucket" }), 404);
    return c.json(bucket.outputs.map(outputView));
  });

  app.delete("/v1/buckets/:bucket/outputs/:output", async (c) => {
    const outcome = await removeOutput(store, c.req.param("bucket"), c.req.param("output"));
    if (!outcome.ok) return failure(c, outcome);
    await relay.outputs.refresh();
    return c.body(null, 204);
  });

  app.post("/v1/buckets/:bucket/deliveries/:id/replay", async (c) => {
    const outcome = await replayDelivery(relay, c.req.param("bucket"), c.req.param("id"), clientAddress(c));
    if (!outcome.ok)
      return c.json(
        errorBody(outcome.message, outcome.field === undefined ? {} : { field: outcome.field }),
        outcome.status,
        outcome.status === 503 ? { "Retry-After": "1" } : {},
      );
    return c.json(outcome.value, 201);
  });
}

/** Relay tokens: issued, listed, revoked (admin only). */
function addTokenRoutes(app: Hono<AppEnv>, relay: Relay): void {
  const { store } = relay;

  app.post("/v1/tokens", validJson(createTokenSchema), async (c) => {
    const outcome = await issueToken(store, c.req.valid("json"));
    if (!outcome.ok) return failure(c, outcome);
    const { token, secret } = outcome.value;
    return c.json({ ...tokenView(token), secret }, 201);
  });

  app.get("/v1/tokens", async (c) => c.json((await store.listTokens()).map(tokenView)));

  app.delete("/v1/tokens/:key", async (c) => {
    if (!(await relay.revokeToken(c.req.param("key"))))
      return c.json(errorBody("Unknown or already revoked token", { field: "key" }), 404);
    return c.body(null, 204);
  });
}
