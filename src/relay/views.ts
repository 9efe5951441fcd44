/**
 * The JSON shapes the admin API returns (snake_case, timestamps as ISO 8601). Secrets never appear: an input
 * says whether it has a GitHub secret, a token shows its key and scope.
 */
import type { BucketWithInputs, Input, Output, Token } from "./store.ts";

export interface InputView {
  id: string;
  name: string;
  url: string;
  response: { status: number; body: string; headers: Record<string, string> };
  has_github_secret: boolean;
  passthrough: boolean;
  passthrough_timeout_ms: number;
  created_at: string;
}

export function inputView(input: Input, url: string): InputView {
  return {
    id: input.id,
    name: input.name,
    url,
    response: input.response,
    has_github_secret: input.hasSecret,
    passthrough: input.passthrough,
    passthrough_timeout_ms: input.passthroughTimeoutMs,
    created_at: new Date(input.createdAt).toISOString(),
  };
}

export function outputView(output: Output) {
  return {
    id: output.id,
    name: output.name,
    destination: output.destination,
    delivered_by: output.deliveredBy,
    created_at: new Date(output.createdAt).toISOString(),
  };
}

export function bucketView(bucket: BucketWithInputs, urlOf: (inputId: string) => string) {
  return {
    id: bucket.id,
    name: bucket.name,
    description: bucket.description,
    created_at: new Date(bucket.createdAt).toISOString(),
    inputs: bucket.inputs.map((input) => inputView(input, urlOf(input.id))),
    outputs: bucket.outputs.map(outputView),
  };
}

export function tokenView(token: Token) {
  return {
    key: token.key,
    description: token.description,
    admin: token.admin,
    buckets: token.bucketIds,
    created_at: new Date(token.createdAt).toISOString(),
    revoked_at: token.revokedAt === null ? null : new Date(token.revokedAt).toISOString(),
  };
}
