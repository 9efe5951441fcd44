/**
 * A command run as a real child process, its output collected line by line, with waits that time out.
 */
import type { Subprocess } from "bun";
import { repoRoot } from "./relay.ts";
import { waitFor } from "./ws.ts";

export interface ChildProcess {
  readonly process: Subprocess<"ignore", "pipe", "pipe">;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the first line (of either stream) matching; rejects after `timeoutMs`. */
  waitForLine(pattern: RegExp, stream?: "stdout" | "stderr", timeoutMs?: number): Promise<string>;
  exited: Promise<number>;
  kill(signal?: NodeJS.Signals): void;
  [Symbol.asyncDispose](): Promise<void>;
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]) {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stream) {
    partial += decoder.decode(chunk, { stream: true });
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    into.push(...lines);
  }
  if (partial !== "") into.push(partial);
}

/** Runs `bun src/hookstream.ts ...args` (or any command when `command` is given). */
export function spawnChild(
  args: string[],
  env: Record<string, string | undefined> = {},
  command: string[] = ["bun", "src/hookstream.ts"],
): ChildProcess {
  const child = Bun.spawn([...command, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const reading = Promise.all([collect(child.stdout, stdout), collect(child.stderr, stderr)]);
  const exited = reading.then(() => child.exited);
  return {
    process: child,
    stdout,
    stderr,
    async waitForLine(pattern, stream, timeoutMs = 10_000) {
      let found: string | undefined;
      const sources = stream === undefined ? [stdout, stderr] : [stream === "stdout" ? stdout : stderr];
      await waitFor(
        () => {
          for (const lines of sources) found ??= lines.find((line) => pattern.test(line));
          return found !== undefined || child.exitCode !== null;
        },
        timeoutMs,
        `a line matching ${pattern} (stdout: ${stdout.slice(-5).join(" | ")}; stderr: ${stderr.slice(-5).join(" | ")})`,
      );
      if (found === undefined)
        throw new Error(`exited ${child.exitCode} before a line matching ${pattern}: ${stderr.join("\n")}`);
      return found;
    },
    exited,
    kill(signal = "SIGTERM") {
      child.kill(signal);
    },
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await child.exited;
    },
  };
}
