/**
 * Entry point: environment → config (exit 2 on a bad value), start, and shut down cleanly on SIGTERM/SIGINT.
 */
import { mkdirSync } from "node:fs";
import { loadConfig } from "./process/config.ts";
import { createConsoleLog, startServer } from "./server.ts";

const loaded = loadConfig(process.env);
if (!loaded.ok) {
  console.error("hookstream: invalid configuration");
  for (const problem of loaded.problems) console.error(`  - ${problem}`);
  console.error("See the Configuration section of README.md for every variable and its default.");
  process.exit(2);
}
const config = loaded.config;

// The data directory is ours to create. The log directory belongs to the processor we follow: create it
// only where it is our own default, so an explicit LOG_DIR that is missing is waited for, not faked.
try {
  mkdirSync(config.dataDir, { recursive: true });
  if (!process.env.LOG_DIR) mkdirSync(config.logDir, { recursive: true });
} catch (error) {
  // A setting that cannot work, like any other bad value: one sentence and exit 2, not a stack trace.
  const { code, message } = error as NodeJS.ErrnoException;
  const why =
    code === "EEXIST" || code === "ENOTDIR"
      ? "it, or a directory on its path, is a file"
      : `it cannot be created (${code ?? message})`;
  console.error(`hookstream: DATA_DIR ${config.dataDir} cannot be used as the data directory: ${why}.`);
  process.exit(2);
}

const consoleLog = createConsoleLog(config.logFormat, config.logLevel);
const running = await startServer(config, consoleLog).catch((error: unknown) => {
  // A shared Redis that cannot be reached at start is an operator's problem to see at once, not a stack trace.
  consoleLog("error", `could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
// Handlers first: whoever reads the listening line below may send a signal at once.
let exiting = false;
const exit = (signal: string) => {
  if (exiting) return;
  exiting = true;
  consoleLog("info", `${signal} received: closing connections`);
  running.shutdown().then(
    () => process.exit(0),
    (error: unknown) => {
      consoleLog("error", `shutdown failed: ${String(error)}`);
      process.exit(1);
    },
  );
};
process.on("SIGTERM", () => exit("SIGTERM"));
process.on("SIGINT", () => exit("SIGINT"));

consoleLog(
  "info",
  `hookstream listening on ${config.host}:${running.server.port}, following ${config.logDir}`,
);
if (config.logsToken === null && !["127.0.0.1", "::1", "localhost"].includes(config.host)) {
  consoleLog(
    "warn",
    `listening on ${config.host} with no LOGS_TOKEN: /logs/ws, /logs/api and the page are open to anyone who ` +
      "can reach this port, and log streams can hold user data. Set LOGS_TOKEN, bind HOST=127.0.0.1, or put an " +
      "authenticating proxy in front.",
  );
}
