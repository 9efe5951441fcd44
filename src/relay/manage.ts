/**
 * Management operations shared by the admin API and the CLI, so both apply the same rules.
 */
import { BODILESS_STATUSES } from "./schemas.ts";
import {
  type Input,
  type InputResponse,
  type NewOutput,
  type Output,
  OutputNameTakenError,
  type RelayStore,
  type Token,
} from "./store.ts";
import { generateToken } from "./tokens.ts";

export type Outcome<T> =
  | { ok: true; value: T }
  | { ok: false; status: 400 | 404 | 409; field: string; message: string };

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
  passthrough?: boolean;
  passthroughTimeoutMs?: number;
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
    passthrough: changes.passthrough,
    passthroughTimeoutMs: changes.passthroughTimeoutMs,
  });
  if (input === null) return { ok: false, status: 404, field: "inputId", message: "Unknown input" };
  return { ok: true, value: input };
}

const unknownBucket = { ok: false, status: 404, field: "bucket", message: "Unknown bucket" } as const;

/** Adds an output (already validated) to the bucket named by id or name. */
export async function addOutput(
  store: RelayStore,
  bucketRef: string,
  output: NewOutput,
): Promise<Outcome<Output>> {
  const bucket = await store.findBucket(bucketRef);
  try {
    const created = bucket === null ? null : await store.createOutput(bucket.id, output);
    return created === null ? unknownBucket : { ok: true, value: created };
  } catch (error) {
    if (error instanceof OutputNameTakenError)
      return { ok: false, status: 409, field: "name", message: error.message };
    throw error;
  }
}

/** Removes the output (by id or name) from the bucket named by id or name. */
export async function removeOutput(
  store: RelayStore,
  bucketRef: string,
  outputRef: string,
): Promise<Outcome<null>> {
  const bucket = await store.findBucket(bucketRef);
  if (bucket === null) return unknownBucket;
  if (!(await store.deleteOutput(bucket.id, outputRef)))
    return { ok: false, status: 404, field: "output", message: "No such output in this bucket" };
  return { ok: true, value: null };
}
