#!/usr/bin/env bun
/**
 * The one command: `hookstream serve` runs the server, `forward`, `tail` and `replay` are the clients,
 * everything else is a management command (cli.ts). Each part is loaded only when asked for, so a client
 * never opens the server's database or reads its configuration. `bun build --compile` turns this file into
 * one executable (build-binary.ts).
 */
import { CLIENT_COMMANDS, runClientCommand } from "./clients/commands.ts";

const USAGE = `usage: hookstream <command> [options]      (from a clone: bun run hookstream <command>)

  serve                         run the server (configured by environment variables; see README)
  forward --target URL ...      replay a relay's webhooks to a local app
  tail [filters] ...            follow the log stream in a terminal
  replay BUCKET DELIVERY_ID     re-send a stored delivery to its bucket's subscribers
  bucket | input | token ...    manage the relay (same as bun run cli; "hookstream bucket --help")

"hookstream <command> --help" describes each one.`;

const [command, ...rest] = process.argv.slice(2);
if (command === undefined || command === "help" || command === "--help" || command === "-h") {
  console.log(USAGE);
  process.exit(command === undefined ? 2 : 0);
} else if ((CLIENT_COMMANDS as readonly string[]).includes(command)) {
  process.exit(await runClientCommand(command, rest));
} else if (command === "serve") {
  await import("./main.ts");
} else {
  await import("./cli.ts");
}
