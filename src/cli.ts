/**
 * Management commands over the relay store the server uses: the SQLite database in DATA_DIR, or, when
 * REDIS_URL is set, the Redis store every instance shares (so a bucket or token created here exists on all of
 * them). They work whether or not a server runs, and servers notice revoked tokens at once (see src/relay/recheck.ts).
 * Like main.ts this is an entry point, so it reads the environment (through loadConfig).
 *
 * Exit codes: 0 done, 1 the operation was refused (unknown bucket, name taken, ...) or the store could not be
 * reached, 2 bad usage or config.
 */
import { Refused, runCommand, UsageError } from "./cli-commands.ts";
import { RedisUnavailableError, redactRedisUrl } from "./cluster/redis.ts";
import { type Backend, openBackend } from "./open-backend.ts";
import { runHealthcheck } from "./ops/healthcheck.ts";
import { loadConfig } from "./process/config.ts";

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
  await runCommand(opened.store, process.argv.slice(2), (inputId) => `${base}/v1/webhooks/${inputId}`);
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
