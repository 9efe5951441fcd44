/**
 * What a writer commits with each batch: follower positions that never run ahead of the entries emitted
 * (a new writer continues from them), the change set sent to Redis, and the decoding of stream replies.
 */
import { describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { streamEntries } from "../../src/cluster/log-mirror.ts";
import { createPositionCodec, positionChanges } from "../../src/cluster/log-positions.ts";
import type { LogEntry } from "../../src/logs/entry.ts";
import { READ_CHUNK_BYTES } from "../../src/logs/file-tail.ts";
import { createLogFollower } from "../../src/logs/follow.ts";
import { textLine } from "../helpers/logs.ts";
import { quietLog } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

/** A follower with exact positions over a fresh directory; records each batch end's positions. */
async function exactFollower(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-positions-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const emitted: LogEntry[] = [];
  const batches: Array<{ emitted: number; offsets: Map<string, number> }> = [];
  const follower = createLogFollower({
    dir,
    pollIntervalMs: 20,
    parse: { naiveZone: "Z" },
    emit: (entry) => emitted.push(entry),
    onBatchEnd() {
      const offsets = new Map(follower.positions().map((p) => [p.path.slice(dir.length + 1), p.offset]));
      batches.push({ emitted: emitted.length, offsets });
      return undefined;
    },
    exactPositions: true,
    log: quietLog,
  });
  await follower.start();
  return {
    dir,
    emitted,
    batches,
    append: (name: string, text: string) => appendFileSync(join(dir, name), text),
    offset: (name: string) => batches.at(-1)?.offsets.get(name),
    [Symbol.dispose]() {
      follower.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const line = (seq: number, level = "INFO") => textLine({ seq, level });

describe("exact follower positions", () => {
  test("files present at start are committed at their end before anything is appended", async () => {
    using follower = await exactFollower({ "server.log": line(1), "webhooks.json": "" });
    expect(follower.offset("server.log")).toBe(line(1).length);
    expect(follower.offset("webhooks.json")).toBe(0);
  });

  test("a text entry and its traceback lines are emitted before the batch that covers them ends", async () => {
    using follower = await exactFollower({ "server.log": "" });
    const text = `${line(1, "ERROR")}Traceback (most recent call last):\n  File "x.py", line 1\n${line(2)}`;
    follower.append("server.log", text);
    await waitFor(() => follower.offset("server.log") === Buffer.byteLength(text), 2000, "read");
    expect(follower.emitted.map((e) => e.message)).toEqual([
      'msg 1\nTraceback (most recent call last):\n  File "x.py", line 1',
      "msg 2",
    ]);
    // No batch ended with the position past a line whose entry was still held.
    for (const batch of follower.batches)
      if (batch.offsets.get("server.log") === Buffer.byteLength(text)) expect(batch.emitted).toBe(2);
  });

  test("a traceback cut by a read step's boundary stays one entry, and the cut holds the position", async () => {
    using follower = await exactFollower({ "server.log": "" });
    const fillerLines = Math.floor((READ_CHUNK_BYTES - 1000) / line(100).length);
    const filler = Array.from({ length: fillerLines }, () => line(100)).join("");
    const traceback = Array.from({ length: 200 }, (_, i) => `  File "x.py", line ${i}, in step\n`).join("");
    const record = `${line(1, "ERROR")}Traceback (most recent call last):\n${traceback}`;
    // The burst is read in READ_CHUNK_BYTES steps: one of them ends inside the traceback.
    expect(filler.length).toBeLessThan(READ_CHUNK_BYTES);
    expect(filler.length + record.length).toBeGreaterThan(READ_CHUNK_BYTES);
    follower.append("server.log", filler + record + line(2));
    const total = Buffer.byteLength(filler + record + line(2));
    await waitFor(() => follower.offset("server.log") === total, 2000, "read");
    const messages = follower.emitted.map((e) => e.message);
    expect(messages.length).toBe(fillerLines + 2);
    expect(messages[fillerLines]).toBe(`msg 1\nTraceback (most recent call last):\n${traceback.trimEnd()}`);
    // A batch that ended inside the traceback kept the position at the record's first line.
    const recordStart = Buffer.byteLength(filler);
    const cut = follower.batches.find((b) => b.emitted === fillerLines);
    expect(cut?.offsets.get("server.log")).toBe(recordStart);
  });

  test("a text file written one line per read step is committed past each line", async () => {
    using follower = await exactFollower({ "server.log": "" });
    let written = 0;
    for (let seq = 1; seq <= 5; seq++) {
      follower.append("server.log", line(seq));
      written += line(seq).length;
      await waitFor(() => follower.emitted.length === seq, 2000, `line ${seq}`);
      // Each line is its own read step; its entry is out, so a new writer must not read it again.
      await waitFor(() => follower.offset("server.log") === written, 2000, `position after line ${seq}`);
    }
  });

  test("a pretty-printed JSON record still being written keeps the position at its first line", async () => {
    using follower = await exactFollower({ "webhooks.json": "" });
    const first = `${JSON.stringify({ type: "log_entry", timestamp: "2026-11-23T10:00:00Z", level: "INFO", message: "one" })}\n`;
    const opening = '{\n  "type": "log_entry",\n  "level": "ERROR",\n';
    follower.append("webhooks.json", first + opening);
    await waitFor(() => follower.emitted.length === 1, 2000, "first record");
    await Bun.sleep(50);
    // The record's lines were read but not emitted: a new writer must read them again.
    expect(follower.offset("webhooks.json")).toBe(Buffer.byteLength(first));
    const rest = '  "timestamp": "2026-11-23T10:00:01Z",\n  "message": "two"\n}\n';
    follower.append("webhooks.json", rest);
    await waitFor(() => follower.emitted.length === 2, 2000, "second record");
    expect(follower.emitted[1]?.message).toBe("two");
    expect(follower.offset("webhooks.json")).toBe(Buffer.byteLength(first + opening + rest));
  });

  test("multi-byte characters count as bytes, not characters", async () => {
    using follower = await exactFollower({ "webhooks.json": "" });
    const record = `${JSON.stringify({ type: "log_entry", timestamp: "2026-11-23T10:00:00Z", level: "INFO", message: "ünïcødé ✓" })}\n`;
    follower.append("webhooks.json", `${record}{\n`);
    await waitFor(() => follower.emitted.length === 1, 2000, "record");
    await Bun.sleep(50);
    expect(follower.offset("webhooks.json")).toBe(Buffer.byteLength(record));
  });
});

describe("what a batch changes in Redis", () => {
  const cases: Array<{
    name: string;
    committed: Record<string, string>;
    next: Record<string, string>;
    set: Array<[string, string]>;
    remove: string[];
  }> = [
    { name: "nothing changed: nothing sent", committed: { a: "1" }, next: { a: "1" }, set: [], remove: [] },
    {
      name: "a file moved on: only it is set",
      committed: { a: "1", b: "2" },
      next: { a: "1", b: "3" },
      set: [["b", "3"]],
      remove: [],
    },
    { name: "a new file: it is set", committed: {}, next: { a: "0" }, set: [["a", "0"]], remove: [] },
    {
      name: "a file no longer followed: it is deleted",
      committed: { a: "1", b: "2" },
      next: { a: "1" },
      set: [],
      remove: ["b"],
    },
  ];
  for (const { name, committed, next, set, remove } of cases)
    test(name, () => {
      expect(positionChanges(new Map(Object.entries(committed)), new Map(Object.entries(next)))).toEqual({
        set,
        remove,
      });
    });

  test("files are stored by inode, so another host's mount of the directory finds them", () => {
    const dir = mkdtempSync(join(tmpdir(), "hookstream-codec-"));
    const device = statSync(dir).dev;
    const codec = createPositionCodec(dir);
    expect(codec.field(`${device}:1234`)).toBe("1234");
    expect(codec.identity("1234")).toBe(`${device}:1234`);
    // A file on another device (a symlink elsewhere) keeps its full identity.
    expect(codec.field(`${device + 1}:5`)).toBe(`${device + 1}:5`);
    expect(codec.identity(`${device + 1}:5`)).toBe(`${device + 1}:5`);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("stream replies", () => {
  const entry = ["7-0", ["ep", "0123abcd", "e", '{"message":"m"}']];
  const expected = [
    { seq: 7, epoch: "0123abcd", count: 1, masked: false, plain: false, json: '{"message":"m"}' },
  ];
  test("an XREAD answer as a RESP3 map", () => {
    expect(streamEntries({ s: [entry] }, "s")).toEqual(expected);
  });
  test("an XREAD answer as RESP2 nested lists", () => {
    expect(streamEntries([["s", [entry]]], "s")).toEqual(expected);
  });
  test("a timeout (null) is no entries", () => {
    expect(streamEntries(null, "s")).toEqual([]);
  });
  test("a batch says how many log entries it holds, its id is the last one's seq", () => {
    const batch = ["9-0", ["ep", "0123abcd", "n", "3", "m", "1", "p", "1", "e", '{"a":1}\n{"a":2}\n{"a":3}']];
    expect(streamEntries([["s", [entry, batch]]], "s")).toEqual([
      ...expected,
      { seq: 9, epoch: "0123abcd", count: 3, masked: true, plain: true, json: '{"a":1}\n{"a":2}\n{"a":3}' },
    ]);
  });
  test("a count that is not a positive number counts as one entry", () => {
    for (const n of ["0", "-2", "x"])
      expect(streamEntries([["s", [["7-0", ["ep", "e1", "n", n, "e", "{}"]]]]], "s")).toEqual([
        { seq: 7, epoch: "e1", count: 1, masked: false, plain: false, json: "{}" },
      ]);
  });
});
