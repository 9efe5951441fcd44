/**
 * `hookstream forward`: the agent that replays a relay's webhooks to a local target. Reads the socket into a
 * bounded queue, sends at most `concurrency` requests at once (one per bucket with `ordered`), saves the
 * finished prefix's cursor after every delivery, and reconnects with that cursor whenever the connection
 * ends, so neither a dropped connection nor a restart loses or repeats a delivery the target answered.
 */

import { type CursorFile, openCursorFile } from "./cursor-file.ts";
import { ExitCode, type ExitCodeValue } from "./exit-codes.ts";
import { pause } from "./flags.ts";
import type { ForwardOptions } from "./forward-args.ts";
import { reconnectWaitMs, servesMessage } from "./forward-rules.ts";
import { createForwardSender, type ForwardIo, type ForwardSender } from "./forward-sender.ts";
import { connectRelay, type RelayClose } from "./relay-connection.ts";

export async function runForward(
  options: ForwardOptions,
  io: ForwardIo,
  stop: AbortSignal,
): Promise<ExitCodeValue> {
  const cursorFile = openCursorFile(options.cursorFile);
  const start = await startingCursor(options.server, cursorFile, io);
  if (!start.ok) return ExitCode.FAILURE;
  const fail = new AbortController();
  const halted = AbortSignal.any([stop, fail.signal]);
  const sender = createForwardSender({
    options,
    io,
    cursorFile,
    cursor: start.cursor,
    halted,
    fail: () => fail.abort(),
  });
  const final = await forwardUntilHalted(options, io, sender, halted);
  if (final !== null) return final;
  if (sender.failure !== null) {
    io.err(`error: ${sender.failure}`);
    return ExitCode.FAILURE;
  }
  return ExitCode.OK;
}

/** The saved cursor; on a first run the server's newest, saved at once. Not ok: the reason was printed. */
async function startingCursor(
  server: string,
  cursorFile: CursorFile,
  io: ForwardIo,
): Promise<{ ok: true; cursor: string | null } | { ok: false }> {
  let cursor: string | null;
  try {
    cursor = cursorFile.load();
  } catch (error) {
    io.err(`error: cannot read the cursor file: ${(error as Error).message}`);
    return { ok: false };
  }
  if (cursor !== null) return { ok: true, cursor };
  // A first run starts at the server's newest delivery, held on disk at once: a restart (or a reconnect
  // while nothing was finished yet) then resumes there instead of going live and missing what came between.
  cursor = await newestCursor(server);
  if (cursor === null) {
    io.err("the server's /health names no relay position: starting live from the subscribe");
    return { ok: true, cursor };
  }
  try {
    cursorFile.save(cursor);
  } catch (error) {
    io.err(`error: cannot save the cursor to ${cursorFile.path}: ${(error as Error).message}`);
    return { ok: false };
  }
  return { ok: true, cursor };
}

/**
 * Connects, reads until the connection ends, and reconnects from the sender's cursor: at once after pausing
 * for a full queue (once it has room), else after a growing wait. Returns the exit code of a final close,
 * or null once halted.
 */
async function forwardUntilHalted(
  options: ForwardOptions,
  io: ForwardIo,
  sender: ForwardSender,
  halted: AbortSignal,
): Promise<ExitCodeValue | null> {
  let failedConnections = 0;
  while (!halted.aborted) {
    const { closed, paused } = await readOneConnection(options, io, sender, halted, () => {
      failedConnections = 0;
    });
    if (halted.aborted) break;
    if (closed.final !== null) return closed.final;
    if (paused) {
      await sender.waitForRoom();
      continue;
    }
    failedConnections++;
    const wait = reconnectWaitMs(failedConnections);
    io.err(
      `connection closed (${closed.code}${closed.reason ? ` ${closed.reason}` : ""}); reconnecting in ${wait} ms`,
    );
    await pause(wait, halted);
  }
  return null;
}

/** One connection, from the sender's cursor until it closes; `paused` when it was closed for a full queue. */
async function readOneConnection(
  options: ForwardOptions,
  io: ForwardIo,
  sender: ForwardSender,
  halted: AbortSignal,
  onSubscribed: () => void,
): Promise<{ closed: RelayClose; paused: boolean }> {
  let paused = false;
  let previousId: string | null = null;
  const { server, key, secret, buckets } = options;
  const connection = connectRelay(
    { server, key, secret, buckets, cursor: sender.cursor },
    {
      onSubscribed(message) {
        onSubscribed();
        io.err(
          `${message}; forwarding to ${options.target?.href ?? `the destination of output ${options.output}`}`,
        );
      },
      onWebhook(webhook) {
        if (paused || !servesMessage(webhook, options.output, previousId)) return;
        previousId = webhook.id;
        if (sender.receive(webhook) === "full") {
          // Read no further: the server keeps everything, and we resume from the saved cursor.
          paused = true;
          connection.close("queue full");
        }
      },
      onNotice: (text) => io.err(text),
    },
  );
  sender.useConnection(connection);
  const onHalt = () => connection.close("stopping");
  halted.addEventListener("abort", onHalt, { once: true });
  const closed = await connection.closed;
  halted.removeEventListener("abort", onHalt);
  return { closed, paused };
}

/** The relay's newest cursor from `/health`; null when the server does not say (then the start is live). */
async function newestCursor(server: string): Promise<string | null> {
  try {
    const response = await fetch(new URL("health", server.endsWith("/") ? server : `${server}/`), {
      signal: AbortSignal.timeout(5000),
    });
    const health = (await response.json()) as { relay?: { newest_cursor?: unknown } };
    const cursor = health.relay?.newest_cursor;
    return typeof cursor === "string" && cursor !== "" ? cursor : null;
  } catch {
    return null;
  }
}
