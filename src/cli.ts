/**
 * Management commands over the relay store the server uses: the SQLite database in DATA_DIR, or, when
 * REDIS_URL is set, the Redis store every instance shares (so a bucket or token created here exists on all of
 * them). They work whether or not a server runs, and servers notice revoked tokens within RELAY_RECHECK_MS.
 * Like main.ts this is an entry point, so it reads the environment (through loadConfig).
 *
 * Exit codes: 0 done, 1 the operation was refused (unknown bucket, name taken, ...) or the store could not be
 * reached, 2 bad usage or config.
 */
import { parseArgs } from "node:util";
import { RedisUnavailableError, redactRedisUrl } from "./cluster/redis.ts";
import { type Backend, openBackend } from "./open-backend.ts";
import { runHealthcheck } from "./ops/healthcheck.ts";
import { loadConfig } from "./process/config.ts";
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

const USAGE = `usage: bun run cli <command> [options]

  bucket create NAME [--description TEXT] [--json]
  bucket list [--json]
  bucket delete NAME|ID
  input add BUCKET NAME [--json]
  input set-response INPUT_ID [--status N] [--body TEXT] [--header 'Name: value']... [--json]
  input set-secret INPUT_ID [SECRET] [--clear]     (no SECRET: read from standard input)
  input set-passthrough INPUT_ID [--timeout MS] [--off]
  output add BUCKET NAME DESTINATION [--agent] [--json]   (--agent: delivered by \`hookstream forward\`)
  output list BUCKET [--json]
  output delete BUCKET NAME|ID
  token create [--buckets a,b] [--admin] [--description TEXT] [--json]
  token list [--json]
  token revoke KEY
  healthcheck [--live]       (exit 0 when the server's /readyz, or /livez, answers 200)

Environment: DATA_DIR (database), REDIS_URL and REDIS_KEY_PREFIX (the shared store instead),
PUBLIC_URL or PORT (for input URLs).`;

/** How long a command waits for an unreachable Redis before giving up. */
const REDIS_CONNECT_DEADLINE_MS = 5_000;

class UsageError extends Error {}
class Refused extends Error {}

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

async function run(store: RelayStore, argv: string[], urlOf: (id: string) => string): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
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
    },
  });
  const [group, command, ...args] = positionals;
  const asJson = values.json;
  if (values.help || group === undefined) throw new UsageError("");
  const arg = (index: number, name: string) => {
    const value = args[index];
    if (value === undefined) throw new UsageError(`missing ${name}`);
    return value;
  };

  switch (`${group} ${command ?? ""}`) {
    case "bucket create": {
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
      return;
    }
    case "bucket list": {
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
      return;
    }
    case "bucket delete": {
      const bucket = await store.findBucket(arg(0, "NAME|ID"));
      if (bucket === null || !(await store.deleteBucket(bucket.id))) throw new Refused("no such bucket");
      print(`deleted bucket ${bucket.name} (${bucket.id})`, false);
      return;
    }
    case "input add": {
      const bucket = await store.findBucket(arg(0, "BUCKET"));
      const input = bucket === null ? null : await store.addInput(bucket.id, arg(1, "NAME"));
      if (input === null) throw new Refused("no such bucket");
      print(asJson ? inputView(input, urlOf(input.id)) : `input ${input.id}: ${urlOf(input.id)}`, asJson);
      return;
    }
    case "input set-response": {
      // No prototype: `--header '__proto__: x'` becomes a key the schema refuses, not a silent no-op.
      const headers: Record<string, string> = Object.create(null);
      for (const header of values.header ?? []) {
        const colon = header.indexOf(":");
        if (colon <= 0) throw new UsageError(`--header expects 'Name: value', got '${header}'`);
        headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
      }
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
      return;
    }
    case "input set-secret": {
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
      return;
    }
    case "input set-passthrough": {
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
      return;
    }
    case "output add": {
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
      return;
    }
    case "output list": {
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
      return;
    }
    case "output delete": {
      const outcome = await removeOutput(store, arg(0, "BUCKET"), arg(1, "NAME|ID"));
      if (!outcome.ok) throw new Refused(outcome.message);
      print(`deleted output ${arg(1, "NAME|ID")}`, false);
      return;
    }
    case "token create": {
      const buckets = values.buckets
        ?.split(",")
        .map((b) => b.trim())
        .filter((b) => b !== "");
      const outcome = await issueToken(store, {
        buckets: buckets === undefined ? null : buckets,
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
      return;
    }
    case "token list": {
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
      return;
    }
    case "token revoke": {
      if (!(await store.revokeToken(arg(0, "KEY")))) throw new Refused("no such active token");
      print("token revoked; open sockets using it are closed within seconds", false);
      return;
    }
    default:
      throw new UsageError(`unknown command: ${[group, command].filter(Boolean).join(" ")}`);
  }
}

const loaded = loadConfig(process.env);
if (!loaded.ok) {
  console.error("hookstream: invalid configuration");
  for (const problem of loaded.problems) console.error(`  - ${problem}`);
  process.exit(2);
}
const config = loaded.config;
// Talks to the running server over HTTP, not to the store.
if (process.argv[2] === "healthcheck") process.exit(await runHealthcheck(config, process.argv.slice(3)));
const base = config.relay.publicUrl ?? `http://localhost:${config.port}`;

/** The backend the servers with this configuration use, with the same stores and limits. */
async function open(): Promise<Backend> {
  const log = (level: string, message: string) => {
    if (level !== "info") console.error(`${level}: ${message}`);
  };
  const opening = openBackend(config, log, { connectDeadlineMs: REDIS_CONNECT_DEADLINE_MS, announce: false });
  if (config.cluster === null) return opening;
  const { redisUrl } = config.cluster;
  // Bun's client keeps trying while Redis is away, so the deadline is kept here; exiting ends the attempt.
  const deadline = new Promise<never>((_, reject) =>
    setTimeout(
      () =>
        reject(
          new RedisUnavailableError(
            `no answer from ${redactRedisUrl(redisUrl)} within ${REDIS_CONNECT_DEADLINE_MS} ms`,
          ),
        ),
      REDIS_CONNECT_DEADLINE_MS,
    ).unref(),
  );
  return Promise.race([opening, deadline]);
}

let exitCode = 0;
let opened: Backend | null = null;
try {
  opened = await open();
  await run(opened.store, process.argv.slice(2), (inputId) => `${base}/v1/webhooks/${inputId}`);
} catch (error) {
  if (error instanceof RedisUnavailableError) {
    console.error(`error: ${error.message}`);
    exitCode = 1;
  } else if (error instanceof UsageError) {
    if (error.message) console.error(`error: ${error.message}`);
    console.error(USAGE);
    exitCode = 2;
  } else if (error instanceof Refused) {
    console.error(`error: ${error.message}`);
    exitCode = 1;
  } else if (
    error instanceof TypeError &&
    "code" in error &&
    String(error.code).startsWith("ERR_PARSE_ARGS")
  ) {
    console.error(`error: ${error.message}\n${USAGE}`);
    exitCode = 2;
  } else {
    throw error;
  }
} finally {
  await opened?.close();
}
process.exit(exitCode);
