/**
 * `hookstream tail`: follows `/logs/ws` with the given filters and prints each entry. On a dropped
 * connection (or 1001, 1011, 4100, 4101) it reconnects with the cursor of the last entry printed, so the
 * output has no gap and no repeat; before the first entry it reconnects with the original start.
 */
import { ExitCode, type ExitCodeValue } from "./exit-codes.ts";
import { pause } from "./flags.ts";
import { socketUrl } from "./relay-frames.ts";
import type { TailOptions } from "./tail-args.ts";
import { formatEntry, formatEntryJson, parseLogFrame } from "./tail-format.ts";
import { terminalSafe } from "./terminal-text.ts";

const RECONNECT_BASE_MS = 500;
const RECONNECT_CAP_MS = 30_000;

export interface TailIo {
  out(line: string): void;
  err(line: string): void;
  /** Whether standard output is a terminal (colours only then). */
  isTerminal: boolean;
}

type Attempt = { opened: boolean; code: number; reason: string };

/**
 * Why an upgrade failed: the same URL as a plain GET gets the server's answer before any upgrade (400 naming
 * the parameter, 401, 503; 426 means the request itself was fine).
 */
async function diagnose(
  url: URL,
  headers: Record<string, string>,
): Promise<{ status: number; text: string } | null> {
  const http = new URL(url);
  http.protocol = url.protocol === "wss:" ? "https:" : "http:";
  try {
    const response = await fetch(http, { headers, signal: AbortSignal.timeout(5000) });
    return { status: response.status, text: await response.text() };
  } catch {
    return null;
  }
}

export async function runTail(options: TailOptions, io: TailIo, stop: AbortSignal): Promise<ExitCodeValue> {
  const colour = options.color && io.isTerminal && !options.json;
  const headers: Record<string, string> =
    options.token === null ? {} : { Authorization: `Bearer ${options.token}` };
  let lastCursor: string | null = null;
  let failures = 0;

  while (!stop.aborted) {
    const url = socketUrl(options.server, "/logs/ws");
    const query =
      lastCursor === null ? { ...options.query } : { ...withoutStart(options.query), cursor: lastCursor };
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    const attempt = await new Promise<Attempt>((resolve) => {
      // Bun's WebSocket takes headers (the DOM type does not know it): the token stays out of the URL.
      const socket = new WebSocket(url.href, { headers } as unknown as string[]);
      let opened = false;
      const onStop = () => socket.close(1000, "stopping");
      stop.addEventListener("abort", onStop, { once: true });
      socket.addEventListener("open", () => {
        opened = true;
        failures = 0;
      });
      socket.addEventListener("message", (event) => {
        const frame = parseLogFrame(typeof event.data === "string" ? event.data : String(event.data));
        switch (frame.kind) {
          case "entry":
            if (frame.cursor !== null) lastCursor = frame.cursor;
            io.out(options.json ? formatEntryJson(frame.entry) : formatEntry(frame.entry, colour));
            return;
          case "control":
          case "error":
            return io.err(terminalSafe(frame.message, false));
          case "invalid":
            return io.err(`unreadable message from the server: ${frame.reason}`);
        }
      });
      socket.addEventListener("close", (event) => {
        stop.removeEventListener("abort", onStop);
        resolve({ opened, code: event.code, reason: event.reason });
      });
    });
    if (stop.aborted) break;
    if (!attempt.opened) {
      const answer = await diagnose(url, headers);
      if (
        answer !== null &&
        answer.status >= 400 &&
        answer.status < 500 &&
        answer.status !== 426 &&
        answer.status !== 429
      ) {
        io.err(
          `error: the server refused the stream (${answer.status}): ${terminalSafe(answer.text, false)}`,
        );
        return answer.status === 401 || answer.status === 403 ? ExitCode.UNAUTHORIZED : ExitCode.REFUSED;
      }
    }
    failures++;
    const wait = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** (failures - 1));
    io.err(
      `connection ${attempt.opened ? "closed" : "failed"} (${attempt.code}${attempt.reason ? ` ${terminalSafe(attempt.reason, false)}` : ""}); reconnecting in ${wait} ms${lastCursor === null ? "" : ` from ${lastCursor}`}`,
    );
    await pause(wait, stop);
  }
  return ExitCode.OK;
}

function withoutStart(query: Record<string, string>): Record<string, string> {
  const { tail: _tail, since: _since, cursor: _cursor, ...filters } = query;
  return filters;
}
