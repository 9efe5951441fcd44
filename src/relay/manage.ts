/**
 * Management operations shared by the admin API and the CLI, so both apply the same rules.
 */
import { BODILESS_STATUSES } from "./schemas.ts";
import type { Input, InputResponse, RelayStore, Token } from "./store.ts";
import { generateToken } from "./tokens.ts";

export type Outcome<T> =
  | { ok: true; value: T }
  | { ok: false; status: 400 | 404; field: string; message: string };

export interface IssuedToken {
  token: Token;
  /** Shown once; only its hash is stored. */
  secret: string;
}

export async function issueToken(
  store: RelayStore,
  request: { buckets?: readonly string[] | null; admin?: boolean; description?: string },
): Promise<Outcome<IssuedToken>> {
  let bucketIds: string[] | null = null;
  if (request.buckets !== undefined && request.buckets !== null) {
    bucketIds = [];
    const missing: string[] = [];
    for (const ref of request.buckets) {
      const bucket = await store.findBucket(ref);
      if (bucket === null) missing.push(ref);
      else bucketIds.push(bucket.id);
    }
    if (missing.length > 0)
      return { ok: false, status: 400, field: "buckets", message: `unknown buckets: ${missing.join(", ")}` };
  }
  const generated = generateToken();
  const token = await store.createToken({
    key: generated.key,
    secretHash: generated.secretHash,
    admin: request.admin ?? false,
    bucketIds,
    description: request.description ?? "",
  });
  return { ok: true, value: { token, secret: generated.secret } };
}

export interface InputChanges {
  name?: string;
  response?: Partial<InputResponse>;
  githubSecret?: string | null;
}

/** Applies the changes; a partial response is merged over the current one. */
export async function configureInput(
  store: RelayStore,
  inputId: string,
  changes: InputChanges,
  bucketId?: string,
): Promise<Outcome<Input>> {
  const route = await store.resolveInput(inputId);
  if (route === null || (bucketId !== undefined && route.bucket.id !== bucketId))
    return { ok: false, status: 404, field: "inputId", message: "Unknown input" };
  let response: InputResponse | undefined;
  if (changes.response !== undefined) {
    // Only what was given: a key present but undefined (an option the CLI did not get) keeps the current value.
    const given = Object.fromEntries(
      Object.entries(changes.response).filter(([, value]) => value !== undefined),
    );
    response = { ...route.input.response, ...given };
    if (BODILESS_STATUSES.has(response.status) && response.body !== "")
      return {
        ok: false,
        status: 400,
        field: "response.body",
        message: `a ${response.status} response cannot have a body`,
      };
  }
  const input = await store.updateInput(inputId, {
    name: changes.name,
    response,
    githubSecret: changes.githubSecret,
  });
  if (input === null) return { ok: false, status: 404, field: "inputId", message: "Unknown input" };
  return { ok: true, value: input };
}
