/**
 * The floor: the least a Bun server must do to stream a log file. It reads the bytes appended to one file
 * (fs.watch as a hint, a 2 ms poll as the safety net), cuts lines and publishes each unchanged to one Bun
 * pub/sub topic — no parsing, journal, filters or cursors. What hookstream spends beyond this is its own cost.
 *
 *   bun bench/lib/floor-server.ts <file> <port> [work|plain] [poll|inotify]
 *
 * With `work`, the work floor: the least a server must add for hookstream's job on top of that. Each line is
 * parsed (what filters on the server and the history need), serialised again (the entry clients receive) and
 * the read's entries appended to a journal file beside the log in one write (what a resume is served from);
 * a line that does not parse is published as it came. No filters, masking, cursors, pairing or limits.
 *
 * With `inotify`, it wakes only on the file's inotify events (read as hookstream reads them), with no poll:
 * the least a server must wake up for a trickle, where the 2 ms poll's 500 wake-ups a second would cost
 * more than the lines themselves. The poll stays the default: at high rates it gathers appends into reads.
 *
 * A slow client is never dropped: the backpressure limit is far above anything a run queues, so the floor
 * trades memory for zero loss where hookstream catches the client up from its journal.
 */
import { openSync, readSync, statSync, watch, writeSync } from "node:fs";
import { IN_MODIFY, openInotify } from "../../src/process/inotify.ts";

const [file = "", port = "0", mode = "", changeSource = "poll"] = Bun.argv.slice(2);
const TOPIC = "lines";
const READ_BYTES = 1024 * 1024;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(port),
  fetch: (request, bun) => (bun.upgrade(request) ? undefined : new Response("floor")),
  websocket: {
    backpressureLimit: 2 ** 31,
    idleTimeout: 0,
    open: (ws) => void ws.subscribe(TOPIC),
    message() {},
  },
});

const fd = openSync(file, "r");
const buffer = Buffer.allocUnsafe(READ_BYTES);
const decoder = new TextDecoder();
let offset = statSync(file).size;
let partial = "";

function readAppended(): void {
  for (
    let n = readSync(fd, buffer, 0, READ_BYTES, offset);
    n > 0;
    n = readSync(fd, buffer, 0, READ_BYTES, offset)
  ) {
    offset += n;
    const lines = (partial + decoder.decode(buffer.subarray(0, n), { stream: true })).split("\n");
    partial = lines.pop() ?? "";
    if (journal === null) for (const line of lines) server.publish(TOPIC, line);
    else publishEntries(journal, lines);
  }
}

const journal = mode === "work" ? openSync(`${file}.journal`, "a") : null;

function entryOf(line: string): string {
  try {
    return JSON.stringify(JSON.parse(line));
  } catch {
    return line;
  }
}

function publishEntries(journalFd: number, lines: string[]): void {
  const entries = lines.map(entryOf);
  if (entries.length > 0) writeSync(journalFd, `${entries.join("\n")}\n`);
  for (const entry of entries) server.publish(TOPIC, entry);
}

if (changeSource === "inotify") {
  const changes = openInotify(
    () => readAppended(),
    (error) => console.error(error),
    (reason) => {
      throw new Error(`inotify is not available: ${reason}`);
    },
  );
  if (changes !== null && changes.add(file, IN_MODIFY) < 0) throw new Error(`cannot watch ${file}`);
} else {
  watch(file, readAppended);
  setInterval(readAppended, 2);
}
