/**
 * The client commands as processes: flags and environment in, an exit code out (see exit-codes.ts), and
 * SIGINT/SIGTERM ending them cleanly.
 */
import { homedir } from "node:os";
import { ExitCode, UsageError } from "./exit-codes.ts";
import { runForward } from "./forward.ts";
import { FORWARD_USAGE, parseForwardArgs } from "./forward-args.ts";
import { parseReplayArgs, REPLAY_USAGE, runReplay } from "./replay-command.ts";
import { runTail } from "./tail.ts";
import { parseTailArgs, TAIL_USAGE } from "./tail-args.ts";

export const CLIENT_COMMANDS = ["forward", "tail", "replay"] as const;

const USAGES: Record<string, string> = { forward: FORWARD_USAGE, tail: TAIL_USAGE, replay: REPLAY_USAGE };

export async function runClientCommand(command: string, argv: string[]): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const io = {
    out: (line: string) => process.stdout.write(`${line}\n`),
    err: (line: string) => process.stderr.write(`${line}\n`),
  };
  try {
    switch (command) {
      case "forward": {
        const options = parseForwardArgs(argv, process.env, homedir());
        if (options === null) {
          io.out(FORWARD_USAGE);
          return ExitCode.OK;
        }
        return await runForward(options, io, stop.signal);
      }
      case "tail": {
        const options = parseTailArgs(argv, process.env);
        if (options === null) {
          io.out(TAIL_USAGE);
          return ExitCode.OK;
        }
        return await runTail(options, { ...io, isTerminal: process.stdout.isTTY === true }, stop.signal);
      }
      case "replay": {
        const options = parseReplayArgs(argv, process.env);
        if (options === null) {
          io.out(REPLAY_USAGE);
          return ExitCode.OK;
        }
        return await runReplay(options, io);
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`error: ${error.message}\n${USAGES[command] ?? ""}`);
    return ExitCode.USAGE;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
