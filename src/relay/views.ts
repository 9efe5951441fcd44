/**
 * The JSON shapes the admin API returns (snake_case, timestamps as ISO 8601). Secrets never appear: an input
 * says whether it has a GitHub secret, a token shows its key and scope.
 */
import type { BucketWithInputs, Input, Token } from "./store.ts";

export interface InputView {
  id: string;
  name: string;
  url: string;
  response: { status: number; body: string; headers: Record<string, string> };
  has_github_secret: boolean;
  created_at: string;
}

export function inputView(input: Input, url: string): InputView {
  return {
    id: input.id,
    name: input.name,
    url,
    response: input.response,
    has_github_secret: input.hasSecret,
    created_at: new Date(input.createdAt).toISOString(),
  };
}

export function bucketView(bucket: BucketWithInputs, urlOf: (inputId: string) => string) {
  return {
    id: bucket.id,
    name: bucket.name,
    description: bucket.description,
    created_at: new Date(bucket.createdAt).toISOString(),
    inputs: bucket.inputs.map((input) => inputView(input, urlOf(input.id))),
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
