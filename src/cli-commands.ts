/**
 * The management commands over a relay store: one handler per command, found by `group command` in one table.
 * A handler throws UsageError for bad usage (exit 2) and Refused when the store refuses (exit 1).
 */
import { parseArgs } from "node:util";
import { addOutput, configureInput, issueToken, removeOutput } from "./relay/manage.ts";
import {
  bucketNameSchema,
  createOutputSchema,
  describeIssue,
  githubSecretSchema,
  inputResponseSchema,
  updateInputSchema,
} from "./relay/schemas.ts";
import { type BucketWithInputs, NameTakenError, type RelayStore } from "./relay/store.ts";
import { bucketView, inputView, outputView, tokenView } from "./relay/views.ts";

export class UsageError extends Error {}
export class Refused extends Error {}

const OPTIONS = {
  json: { type: "boolean", default: false },
  description: { type: "string" },
  buckets: { type: "string" },
  admin: { type: "boolean", default: false },
  status: { type: "string" },
  body: { type: "string" },
  header: { type: "string", multiple: true },
  clear: { type: "boolean", default: false },
  agent: { type: "boolean", default: false },
  off: { type: "boolean", default: false },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

/** What every command handler gets: the store, the parsed options and its positional arguments. */
interface Command {
  store: RelayStore;
  values: Values;
  args: string[];
  asJson: boolean;
  urlOf: (id: string) => string;
  /** The positional argument at `index`, or a UsageError naming it. */
  arg: (index: number, name: string) => string;
}

const print = (value: unknown, asJson: boolean) =>
  console.log(asJson ? JSON.stringify(value) : String(value));

function describeBucket(bucket: BucketWithInputs, urlOf: (id: string) => string): string {
  const lines = [`bucket ${bucket.name} (${bucket.id})`];
  for (const input of bucket.inputs)
    lines.push(
      `  input ${input.id} "${input.name}"${input.hasSecret ? " [GitHub secret]" : ""}: ${urlOf(input.id)}`,
    );
  return lines.join("\n");
}

/**
 * `--header 'Name: value'` options as a header map, with no prototype: `--header '__proto__: x'` becomes a
 * key the schema refuses, not a silent no-op.
 */
export function parseHeaderOptions(options: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = Object.create(null);
  for (const header of options) {
    const colon = header.indexOf(":");
    if (colon <= 0) throw new UsageError(`--header expects 'Name: value', got '${header}'`);
    headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
  }
  return headers;
}

/** `--buckets a,b` as a list of names, or null (every bucket) when the option is absent. */
export function parseBucketList(option: string | undefined): string[] | null {
  const buckets = option
    ?.split(",")
    .map((b) => b.trim())
    .filter((b) => b !== "");
  return buckets === undefined ? null : buckets;
}

async function bucketCreate({ store, values, asJson, urlOf, arg }: Command) {
  const parsed = bucketNameSchema.safeParse(arg(0, "NAME"));
  if (!parsed.success) throw new UsageError(`bucket name ${describeIssue(parsed.error).message}`);
  let bucket: BucketWithInputs;
  try {
    bucket = await store.createBucket(parsed.data, values.description);
  } catch (error) {
    if (error instanceof NameTakenError) throw new Refused(error.message);
    throw error;
  }
  if (asJson)
    print(
      {
        id: bucket.id,
        name: bucket.name,
        inputs: bucket.inputs.map((i) => ({ id: i.id, url: urlOf(i.id) })),
      },
      true,
    );
  else print(describeBucket(bucket, urlOf), false);
}

async function bucketList({ store, asJson, urlOf }: Command) {
  const buckets = await store.listBuckets();
  if (asJson)
    print(
      buckets.map((b) => bucketView(b, urlOf)),
      true,
    );
  else
    print(
      buckets.length === 0 ? "no buckets" : buckets.map((b) => describeBucket(b, urlOf)).join("\n"),
      false,
    );
}

async function bucketDelete({ store, arg }: Command) {
  const bucket = await store.findBucket(arg(0, "NAME|ID"));
  if (bucket === null || !(await store.deleteBucket(bucket.id))) throw new Refused("no such bucket");
  print(`deleted bucket ${bucket.name} (${bucket.id})`, false);
}

async function inputAdd({ store, asJson, urlOf, arg }: Command) {
  const bucket = await store.findBucket(arg(0, "BUCKET"));
  const input = bucket === null ? null : await store.addInput(bucket.id, arg(1, "NAME"));
  if (input === null) throw new Refused("no such bucket");
  print(asJson ? inputView(input, urlOf(input.id)) : `input ${input.id}: ${urlOf(input.id)}`, asJson);
}

async function inputSetResponse({ store, values, asJson, urlOf, arg }: Command) {
  const headers = parseHeaderOptions(values.header ?? []);
  const response = inputResponseSchema.safeParse({
    status: values.status === undefined ? undefined : Number(values.status),
    body: values.body,
    headers: values.header === undefined ? undefined : headers,
  });
  if (!response.success) throw new UsageError(describeIssue(response.error).message);
  const outcome = await configureInput(store, arg(0, "INPUT_ID"), { response: response.data });
  if (!outcome.ok) throw new Refused(outcome.message);
  const view = inputView(outcome.value, urlOf(outcome.value.id));
  print(asJson ? view : `input ${view.id} answers ${view.response.status}`, asJson);
}

async function inputSetSecret({ store, values, args, arg }: Command) {
  const inputId = arg(0, "INPUT_ID");
  let secret: string | null = null;
  if (!values.clear) {
    secret = args[1] ?? (await Bun.stdin.text()).replace(/\r?\n$/, "");
    const parsed = githubSecretSchema.safeParse(secret);
    if (!parsed.success) throw new UsageError(`secret: ${describeIssue(parsed.error).message}`);
  }
  const outcome = await configureInput(store, inputId, { githubSecret: secret });
  if (!outcome.ok) throw new Refused(outcome.message);
  print(`input ${inputId}: GitHub secret ${secret === null ? "removed" : "set"}`, false);
}

async function inputSetPassthrough({ store, values, asJson, urlOf, arg }: Command) {
  const parsed = updateInputSchema.safeParse({
    passthrough: !values.off,
    passthrough_timeout_ms: values.timeout === undefined ? undefined : Number(values.timeout),
  });
  if (!parsed.success) throw new UsageError(describeIssue(parsed.error).message);
  const outcome = await configureInput(store, arg(0, "INPUT_ID"), {
    passthrough: parsed.data.passthrough,
    passthroughTimeoutMs: parsed.data.passthrough_timeout_ms,
  });
  if (!outcome.ok) throw new Refused(outcome.message);
  const view = inputView(outcome.value, urlOf(outcome.value.id));
  print(
    asJson
      ? view
      : view.passthrough
        ? `input ${view.id} answers with the agent's response within ${view.passthrough_timeout_ms} ms`
        : `input ${view.id} answers with its configured response`,
    asJson,
  );
}

async function outputAdd({ store, values, asJson, arg }: Command) {
  const parsed = createOutputSchema.safeParse({
    name: arg(1, "NAME"),
    destination: arg(2, "DESTINATION"),
    delivered_by: values.agent ? "agent" : "hookstream",
  });
  if (!parsed.success) throw new UsageError(describeIssue(parsed.error).message);
  const outcome = await addOutput(store, arg(0, "BUCKET"), {
    name: parsed.data.name,
    destination: parsed.data.destination,
    deliveredBy: parsed.data.delivered_by ?? "hookstream",
  });
  if (!outcome.ok) throw new Refused(outcome.message);
  const view = outputView(outcome.value);
  print(
    asJson ? view : `output ${view.name} (${view.id}) → ${view.destination}, by ${view.delivered_by}`,
    asJson,
  );
}

async function outputList({ store, asJson, arg }: Command) {
  const bucket = await store.findBucket(arg(0, "BUCKET"));
  if (bucket === null) throw new Refused("no such bucket");
  const views = bucket.outputs.map(outputView);
  if (asJson) print(views, true);
  else
    print(
      views.length === 0
        ? "no outputs"
        : views.map((o) => `${o.name}  ${o.destination}  by ${o.delivered_by}  (${o.id})`).join("\n"),
      false,
    );
}

async function outputDelete({ store, arg }: Command) {
  const outcome = await removeOutput(store, arg(0, "BUCKET"), arg(1, "NAME|ID"));
  if (!outcome.ok) throw new Refused(outcome.message);
  print(`deleted output ${arg(1, "NAME|ID")}`, false);
}

async function tokenCreate({ store, values, asJson }: Command) {
  const outcome = await issueToken(store, {
    buckets: parseBucketList(values.buckets),
    admin: values.admin,
    description: values.description,
  });
  if (!outcome.ok) throw new Refused(outcome.message);
  const { token, secret } = outcome.value;
  if (asJson) print({ key: token.key, secret }, true);
  else
    print(
      [
        `key:    ${token.key}`,
        `secret: ${secret}`,
        `scope:  ${token.admin ? "admin, " : ""}${token.bucketIds === null ? "all buckets" : `buckets ${token.bucketIds.join(", ")}`}`,
        "The secret is shown only now; store it safely.",
      ].join("\n"),
      false,
    );
}

async function tokenList({ store, asJson }: Command) {
  const tokens = (await store.listTokens()).map(tokenView);
  if (asJson) print(tokens, true);
  else
    print(
      tokens.length === 0
        ? "no tokens"
        : tokens
            .map(
              (t) =>
                `${t.key}  ${t.admin ? "admin " : ""}${t.buckets === null ? "all buckets" : `buckets: ${t.buckets.join(", ") || "(none)"}`}${t.revoked_at === null ? "" : `  revoked ${t.revoked_at}`}${t.description ? `  ${t.description}` : ""}`,
            )
            .join("\n"),
      false,
    );
}

async function tokenRevoke({ store, arg }: Command) {
  if (!(await store.revokeToken(arg(0, "KEY")))) throw new Refused("no such active token");
  print("token revoked; open sockets using it are closed within seconds", false);
}

const COMMANDS: Record<string, (command: Command) => Promise<void>> = {
  "bucket create": bucketCreate,
  "bucket list": bucketList,
  "bucket delete": bucketDelete,
  "input add": inputAdd,
  "input set-response": inputSetResponse,
  "input set-secret": inputSetSecret,
  "input set-passthrough": inputSetPassthrough,
  "output add": outputAdd,
  "output list": outputList,
  "output delete": outputDelete,
  "token create": tokenCreate,
  "token list": tokenList,
  "token revoke": tokenRevoke,
};

/** Parses `argv` and runs the command it names against `store`. */
export async function runCommand(
  store: RelayStore,
  argv: string[],
  urlOf: (id: string) => string,
): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  const [group, command, ...args] = positionals;
  if (values.help || group === undefined) throw new UsageError("");
  const handler = Object.hasOwn(COMMANDS, `${group} ${command ?? ""}`)
    ? COMMANDS[`${group} ${command ?? ""}`]
    : undefined;
  if (handler === undefined)
    throw new UsageError(`unknown command: ${[group, command].filter(Boolean).join(" ")}`);
  const arg = (index: number, name: string) => {
    const value = args[index];
    if (value === undefined) throw new UsageError(`missing ${name}`);
    return value;
  };
  await handler({ store, values, args, asJson: values.json, urlOf, arg });
}
