/**
 * The log writer, run as its own process (so it competes for the cores as github-webhook-server would):
 * appends benchmark lines to one file, either at a steady rate or as fast as it can in batches.
 * Every line is stamped with the time of the `write` call that appends it.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { serveParent, spawnWorker } from "./ipc.ts";
import { makeLine, nowMs } from "./workload.ts";

export type WriterRequest =
  | { cmd: "rate"; file: string; firstSeq: number; linesPerSecond: number; durationMs: number }
  | { cmd: "burst"; file: string; firstSeq: number; count: number; batchLines: number };

export interface WrittenReply {
  type: "written";
  count: number;
  writes: number;
  startMs: number;
  endMs: number;
}

export type WriterReply = WrittenReply;

/** The steady-rate loop wakes this often and appends every line that is due. */
const TICK_MS = 1;

function writeBatch(fd: number, firstSeq: number, count: number): void {
  const sentMs = nowMs();
  let text = "";
  for (let i = 0; i < count; i++) text += makeLine(firstSeq + i, sentMs);
  writeSync(fd, text);
}

function burst(request: Extract<WriterRequest, { cmd: "burst" }>): WrittenReply {
  const fd = openSync(request.file, "a");
  const startMs = nowMs();
  let written = 0;
  let writes = 0;
  while (written < request.count) {
    const n = Math.min(request.batchLines, request.count - written);
    writeBatch(fd, request.firstSeq + written, n);
    written += n;
    writes++;
  }
  const endMs = nowMs();
  closeSync(fd);
  return { type: "written", count: written, writes, startMs, endMs };
}

function steady(request: Extract<WriterRequest, { cmd: "rate" }>): Promise<WrittenReply> {
  const fd = openSync(request.file, "a");
  const total = Math.round((request.linesPerSecond * request.durationMs) / 1000);
  const startMs = nowMs();
  let written = 0;
  let writes = 0;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((nowMs() - startMs) * request.linesPerSecond) / 1000) + 1);
      if (due > written) {
        writeBatch(fd, request.firstSeq + written, due - written);
        written = due;
        writes++;
      }
      if (written >= total) {
        clearInterval(timer);
        closeSync(fd);
        resolve({ type: "written", count: written, writes, startMs, endMs: nowMs() });
      }
    }, TICK_MS);
  });
}

export function spawnWriter() {
  return spawnWorker<WriterRequest, WriterReply>("writer", import.meta.path, []);
}

if (import.meta.main) {
  const parent = serveParent<WriterRequest, WriterReply>(async (request) => {
    parent.reply(request.cmd === "burst" ? burst(request) : await steady(request));
  });
}
