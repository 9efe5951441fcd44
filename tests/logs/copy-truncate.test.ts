/**
 * Copy-truncate rotation as logrotate does it (copy the bytes, empty the original, keep appending): the copy
 * continues where the original had been read, so every line is streamed once and in order, whichever of the
 * copy and the truncation the follower notices first.
 */
import { describe, expect, test } from "bun:test";
import {
  appendFileSync,
  copyFileSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  COPY_PAIRING_MS,
  type CopySource,
  createCopyTracker,
  headsAgree,
  isRotatedName,
} from "../../src/logs/copy-truncate.ts";
import type { LogEntry } from "../../src/logs/entry.ts";
import { createLogFollower } from "../../src/logs/follow.ts";
import { append, connectLogs, jsonLine, seqOf, textLine } from "../helpers/logs.ts";
import { quietLog, startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const lines = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => textLine({ seq: from + i })).join("");
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("copy-truncate rules (pure)", () => {
  const names: Array<[string, string, string, boolean]> = [
    ["a numbered rotation of the file is its rotated name", "server.log.1", "server.log", true],
    ["a higher number is a rotated name too", "server.log.12", "server.log", true],
    ["logrotate's dateext suffix is a rotated name", "server.log-20261202", "server.log", true],
    ["an hourly dateext suffix is a rotated name", "server.log-2026120207", "server.log", true],
    [
      "a date before the extension (logrotate's extension option) is a rotated name",
      "server-20261202.log",
      "server.log",
      true,
    ],
    [
      "the next day's file of a dated family is not a rotated name",
      "webhooks_2026-11-24.json",
      "webhooks_2026-11-23.json",
      false,
    ],
    ["another file with a common prefix is not a rotated name", "server.log.old", "server.log", false],
    ["the original itself is not its own rotated name", "server.log", "server.log", false],
    [
      "a rename-rotation's successor is not a rotated name of the renamed file",
      "server.log",
      "server.log.1",
      false,
    ],
    ["dots in the name are not wildcards", "serverXlog.1", "server.log", false],
  ];
  for (const [name, candidate, original, expected] of names)
    test(name, () => expect(isRotatedName(candidate, original)).toBe(expected));

  const heads: Array<[string, string, string, boolean]> = [
    ["equal bytes agree", "abc\n", "abc\n", true],
    ["a copy longer than the remembered head agrees over the head", "abc\ndef\n", "abc\n", true],
    ["a copy still being written agrees over what it has so far", "ab", "abc\n", true],
    ["a different first byte disagrees", "xbc\n", "abc\n", false],
  ];
  for (const [name, first, head, expected] of heads)
    test(name, () => expect(headsAgree(bytes(first), bytes(head))).toBe(expected));

  const head = bytes("2026-11-23T10:00:00 app INFO first line\n");
  const source = (over: Partial<CopySource> = {}): CopySource => ({
    path: "/logs/server.log",
    offset: 5000,
    head,
    emptied: false,
    ...over,
  });
  const copy = { identity: "1:2", path: "/logs/server.log.1", size: 6000 };
  const decisions: Array<[string, CopySource[], Uint8Array, number, number | null]> = [
    [
      "a copy of a file found emptied continues where the file had been read",
      [source({ emptied: true })],
      head,
      6000,
      5000,
    ],
    [
      "a copy shorter than what was read continues at its end",
      [source({ emptied: true, offset: 9000 })],
      head,
      6000,
      6000,
    ],
    ["a copy whose original is not emptied yet waits", [source()], head, 6000, null],
    [
      "a file with a rotated name but other first bytes is new: from its start",
      [source({ emptied: true })],
      bytes("other\n"),
      6000,
      0,
    ],
    [
      "a file whose name is not a rotation of any followed file is new",
      [source({ path: "/logs/app.log" })],
      head,
      6000,
      0,
    ],
    [
      "a source whose first bytes were never read cannot claim a copy",
      [source({ emptied: true, head: new Uint8Array(0) })],
      head,
      6000,
      0,
    ],
  ];
  for (const [name, sources, first, size, expected] of decisions)
    test(name, () => {
      const tracker = createCopyTracker();
      expect(tracker.startOf({ ...copy, size }, sources, () => first, 1_000)).toBe(expected);
    });

  test("a copy seen first waits, then continues where its original was read once it is emptied", () => {
    const tracker = createCopyTracker();
    expect(tracker.startOf(copy, [source()], () => head, 1_000)).toBeNull();
    tracker.emptied("1:1", { path: "/logs/server.log", offset: 5200, head }, 1_010);
    // The emptied original is followed again from 0 with no head yet: only the record can claim the copy.
    const refollowed = source({ offset: 40, head: new Uint8Array(0) });
    expect(tracker.startOf(copy, [refollowed], () => head, 1_020)).toBe(5200);
  });

  test("an emptied file's copy seen after the truncation continues where the file had been read", () => {
    const tracker = createCopyTracker();
    tracker.emptied("1:1", { path: "/logs/server.log", offset: 5200, head }, 1_000);
    expect(tracker.startOf(copy, [], () => head, 1_500)).toBe(5200);
    // The record is used up: a second file with the same bytes is not another copy of it.
    expect(
      tracker.startOf({ ...copy, identity: "1:3", path: "/logs/server.log.2" }, [], () => head, 1_600),
    ).toBe(0);
  });

  test("a copy whose original is never emptied (a plain copy) continues where the original is read", () => {
    const tracker = createCopyTracker();
    expect(tracker.startOf(copy, [source()], () => head, 1_000)).toBeNull();
    expect(tracker.startOf(copy, [source()], () => head, 1_000 + COPY_PAIRING_MS - 1)).toBeNull();
    expect(tracker.startOf(copy, [source()], () => head, 1_000 + COPY_PAIRING_MS)).toBe(5000);
  });

  test("a truncation remembered longer than the pairing window claims no copy", () => {
    const tracker = createCopyTracker();
    tracker.emptied("1:1", { path: "/logs/server.log", offset: 5200, head }, 1_000);
    expect(tracker.startOf(copy, [], () => head, 1_001 + COPY_PAIRING_MS)).toBe(0);
  });
});

/** A real follower over a fresh directory; `gate` holds its reading (backpressure) while set. */
async function follower(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-copytruncate-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const emitted: number[] = [];
  let gate: Promise<void> | null = null;
  let open = () => {};
  const instance = createLogFollower({
    dir,
    pollIntervalMs: 20,
    parse: { naiveZone: "Z" },
    emit: (entry: LogEntry) => emitted.push(Number(entry.message.replace(/^msg /, ""))),
    onBatchEnd: () => gate ?? undefined,
    log: quietLog,
  });
  await instance.start();
  const path = (name: string) => join(dir, name);
  return {
    emitted,
    path,
    append: (name: string, text: string) => appendFileSync(path(name), text),
    until: (count: number) => waitFor(() => emitted.length >= count, 5000, `${count} entries`),
    hold() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      gate = null;
      open();
    },
    /** Resolves once the copy is followed and read to its end. */
    copyRead: (name: string) =>
      waitFor(
        () =>
          instance
            .stats()
            .files.some((file) => file.path === path(name) && file.offset === statSync(path(name)).size),
        5000,
        `${name} read`,
      ),
    followed: () =>
      instance
        .stats()
        .files.map((file) => file.path.slice(dir.length + 1))
        .sort(),
    [Symbol.dispose]() {
      instance.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe("copy-truncate with the real follower", () => {
  test("a copy seen before its original is emptied waits, then nothing in it is read again", async () => {
    using f = await follower({ "server.log": "" });
    f.append("server.log", lines(0, 50));
    await f.until(50);
    copyFileSync(f.path("server.log"), f.path("server.log.1"));
    // A new file is found only by a directory pass, and that pass also lists the copy.
    writeFileSync(f.path("marker.log"), textLine({ seq: 500 }));
    await f.until(51);
    expect(f.followed()).toEqual(["marker.log", "server.log"]);
    truncateSync(f.path("server.log"), 0);
    f.append("server.log", lines(100, 110));
    await f.until(61);
    await f.copyRead("server.log.1");
    expect(f.emitted).toEqual([...range(0, 50), 500, ...range(100, 110)]);
  });

  test("a copy that appears after the truncation was noticed is not read again", async () => {
    using f = await follower({ "server.log": "" });
    f.append("server.log", lines(0, 50));
    await f.until(50);
    copyFileSync(f.path("server.log"), f.path("server.copy"));
    truncateSync(f.path("server.log"), 0);
    f.append("server.log", lines(100, 110));
    await f.until(60);
    renameSync(f.path("server.copy"), f.path("server.log.1"));
    await f.copyRead("server.log.1");
    f.append("server.log", textLine({ seq: 110 }));
    await f.until(61);
    expect(f.emitted).toEqual([...range(0, 50), ...range(100, 111)]);
  });

  test("lines not read yet when the original was emptied are read from the copy, before the new lines", async () => {
    // JSON lines: each is emitted as it is read (a text entry waits for its continuation lines).
    const json = (from: number, to: number) =>
      range(from, to)
        .map((seq) => jsonLine({ seq }))
        .join("");
    using f = await follower({ "app.json": "" });
    f.hold();
    f.append("app.json", json(0, 20));
    await f.until(20); // read, and now held at the batch end
    f.append("app.json", json(20, 40));
    copyFileSync(f.path("app.json"), f.path("app.json.1"));
    truncateSync(f.path("app.json"), 0);
    f.append("app.json", json(100, 105));
    f.release();
    await f.until(45);
    await f.copyRead("app.json.1");
    f.append("app.json", jsonLine({ seq: 105 }));
    await f.until(46);
    expect(f.emitted).toEqual([...range(0, 40), ...range(100, 106)]);
  });

  test("rename rotation and a file appearing later are still read from their start", async () => {
    using f = await follower({ "server.log": "" });
    f.append("server.log", lines(0, 10));
    await f.until(10);
    renameSync(f.path("server.log"), f.path("server.log.1"));
    f.append("server.log.1", lines(10, 20));
    writeFileSync(f.path("server.log"), lines(20, 30));
    await f.until(30);
    writeFileSync(f.path("server.log.2"), lines(30, 40)); // a rotated name, but not a copy: other bytes
    await f.until(40);
    expect(f.emitted).toEqual(range(0, 40));
  });
});

describe("copy-truncate through the server", () => {
  test("logrotate's copytruncate with appends before and after: every line streamed once, in order", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const client = await connectLogs(server);
    for (let burst = 0; burst < 4; burst++) append(server, "server.log", lines(burst * 50, burst * 50 + 50));
    expect((await client.take(200)).map(seqOf)).toEqual(range(0, 200));
    copyFileSync(join(server.logDir, "server.log"), join(server.logDir, "server.log.1"));
    truncateSync(join(server.logDir, "server.log"), 0);
    for (let burst = 0; burst < 2; burst++)
      append(server, "server.log", lines(1000 + burst * 50, 1050 + burst * 50));
    expect((await client.take(100)).map(seqOf)).toEqual(range(1000, 1100));
    // The copy is listed by the next directory pass; a sentinel after it proves nothing of it came.
    await waitFor(async () => {
      const health = (await (await fetch(server.httpUrl("/health"))).json()) as { watched_files: string[] };
      return health.watched_files.some((path) => path.endsWith("server.log.1"));
    });
    append(server, "server.log", textLine({ seq: 2000 }));
    expect(seqOf(await client.next())).toBe(2000);
    client.close();
  });
});
