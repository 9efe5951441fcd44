#!/usr/bin/env bun
/**
 * The one command: `hookstream serve` runs the server, `forward` and `tail` are the clients, everything
 * else is a management command (cli.ts). Each part is loaded only when asked for, so a client never opens
 * the server's database or reads its configuration. `bun build --compile` turns this file into one binary.
 */
import { CLIENT_COMMANDS, runClientCommand } from "./clients/commands.ts";

const [command, ...rest] = process.argv.slice(2);
if ((CLIENT_COMMANDS as readonly string[]).includes(command ?? "")) {
  process.exit(await runClientCommand(command as string, rest));
} else if (command === "serve") {
  await import("./main.ts");
} else {
  await import("./cli.ts");
}
