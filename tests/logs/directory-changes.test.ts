/**
 * The follower's change source: inotify records parsed and sorted (pure, tables), then real files appended,
 * rotated, truncated, and a directory removed and created again, each line arriving long before any poll
 * would have read it (the poll is set to a minute here).
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ChangeSummary, summariseChanges } from "../../src/logs/directory-changes.ts";
import type { LogEntry } from "../../src/logs/entry.ts";
import { createLogFollower, type LogFollower } from "../../src/logs/follow.ts";
import { SAFETY_NET_POLL_MS } from "../../src/logs/follow-schedule.ts";
import {
  IN_CREATE,
  IN_DELETE_SELF,
  IN_IGNORED,
  IN_MODIFY,
  IN_MOVED_TO,
  IN_Q_OVERFLOW,
  type InotifyRecord,
  parseInotifyRecords,
} from "../../src/process/inotify.ts";
import { requireTool } from "../helpers/requirements.ts";
import { waitFor } from "../helpers/ws.ts";

/** One `struct inotify_event` as the kernel writes it, the name NUL-padded to `padTo` bytes. */
function record(
  wd: number,
  mask: number,
  name = "",
  padTo = name.length === 0 ? 0 : 16,
  littleEndian = true,
): Uint8Array {
  const bytes = new Uint8Array(16 + padTo);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, wd, littleEndian);
  view.setUint32(4, mask, littleEndian);
  view.setUint32(8, 0, littleEndian);
  view.setUint32(12, padTo, littleEndian);
  bytes.set(new TextEncoder().encode(name), 16);
  return bytes;
}
const joined = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

describe("reading inotify records", () => {
  const two = joined(record(1, IN_MODIFY, "a.log"), record(1, IN_CREATE, "webhooks.json", 32));
  const cases: Array<[string, Uint8Array, InotifyRecord[], number]> = [
    [
      "a record with a name loses the name's NUL padding",
      record(1, IN_MODIFY, "a.log"),
      [{ wd: 1, mask: IN_MODIFY, name: "a.log" }],
      0,
    ],
    [
      "a record about the watched directory itself has an empty name",
      record(1, IN_DELETE_SELF),
      [{ wd: 1, mask: IN_DELETE_SELF, name: "" }],
      0,
    ],
    [
      "records read together are all returned, in order",
      two,
      [
        { wd: 1, mask: IN_MODIFY, name: "a.log" },
        { wd: 1, mask: IN_CREATE, name: "webhooks.json" },
      ],
      0,
    ],
    [
      "a record cut inside its name is kept for the next read",
      two.subarray(0, 40),
      [{ wd: 1, mask: IN_MODIFY, name: "a.log" }],
      8,
    ],
    [
      "a record cut inside its header is kept for the next read",
      two.subarray(0, 36),
      [{ wd: 1, mask: IN_MODIFY, name: "a.log" }],
      4,
    ],
    [
      "the queue overflow record has no watch",
      record(-1, IN_Q_OVERFLOW),
      [{ wd: -1, mask: IN_Q_OVERFLOW, name: "" }],
      0,
    ],
    ["nothing read gives nothing", new Uint8Array(0), [], 0],
  ];
  for (const [name, bytes, records, rest] of cases)
    test(name, () => {
      const parsed = parseInotifyRecords(bytes, true);
      expect(parsed.records).toEqual(records);
      expect(parsed.rest.length).toBe(rest);
    });

  test("a mask with its top bit set stays positive, a negative watch stays negative", () => {
    const topBit = (0x80000000 | IN_MODIFY) >>> 0;
    const parsed = parseInotifyRecords(record(-1, topBit, "a.log"), true);
    expect(parsed.records).toEqual([{ wd: -1, mask: topBit, name: "a.log" }]);
  });

  test("a big-endian machine's records read the same", () => {
    const big = joined(record(1, IN_MODIFY, "a.log", 16, false), record(-1, IN_Q_OVERFLOW, "", 0, false));
    expect(parseInotifyRecords(big, false).records).toEqual([
      { wd: 1, mask: IN_MODIFY, name: "a.log" },
      { wd: -1, mask: IN_Q_OVERFLOW, name: "" },
    ]);
  });

  test("a cut record read again with the rest of its bytes is whole", () => {
    const first = parseInotifyRecords(two.subarray(0, 40), true);
    const second = parseInotifyRecords(joined(first.rest, two.subarray(40)), true);
    expect(second.records).toEqual([{ wd: 1, mask: IN_CREATE, name: "webhooks.json" }]);
    expect(second.rest.length).toBe(0);
  });
});

describe("what a batch of changes asks the follower to do", () => {
  const watches = { dir: 1, parent: 2, name: "logs" };
  const r = (wd: number, mask: number, name = ""): InotifyRecord => ({ wd, mask, name });
  const nothing: ChangeSummary = { written: [], listingChanged: false, rewatch: false };
  const cases: Array<[string, InotifyRecord[], ChangeSummary]> = [
    [
      "appends read the files written to, once each",
      [r(1, IN_MODIFY, "a.log"), r(1, IN_MODIFY, "b.log"), r(1, IN_MODIFY, "a.log")],
      {
        ...nothing,
        written: ["a.log", "b.log"],
      },
    ],
    [
      "a file created or renamed into the directory asks for a pass",
      [r(1, IN_MOVED_TO, "a.log.1")],
      {
        ...nothing,
        listingChanged: true,
      },
    ],
    ["lost events ask for a pass", [r(-1, IN_Q_OVERFLOW)], { ...nothing, listingChanged: true }],
    [
      "the directory deleted asks for a pass and a new watch",
      [r(1, IN_DELETE_SELF), r(1, IN_IGNORED)],
      {
        ...nothing,
        listingChanged: true,
        rewatch: true,
      },
    ],
    [
      "the directory created again in its parent asks for a pass and a new watch",
      [r(2, IN_CREATE, "logs")],
      {
        ...nothing,
        listingChanged: true,
        rewatch: true,
      },
    ],
    ["another entry of the parent is none of the follower's business", [r(2, IN_CREATE, "other")], nothing],
    ["a record of a watch given up before is ignored", [r(7, IN_MODIFY, "a.log")], nothing],
  ];
  for (const [name, records, expected] of cases)
    test(name, () => expect(summariseChanges(records, watches)).toEqual(expected));

  test("a record cannot match a watch that failed (-1)", () => {
    const none = { dir: -1, parent: -1, name: "logs" };
    expect(summariseChanges([r(-1, IN_MODIFY, "a.log")], none)).toEqual(nothing);
  });
});

const linux = requireTool("Linux inotify", process.platform === "linux", "run these tests on Linux");

describe.if(linux)("a follower told of changes by inotify", () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });
  /** Well inside the safety-net poll: a line arriving within it was read because inotify said so. */
  const PROMPTLY_MS = Math.min(2_000, SAFETY_NET_POLL_MS / 10);
  const line = (n: number) =>
    `2026-12-02T04:45:${String(n % 60).padStart(2, "0")}.000001+00:00 app INFO line ${n}\n`;

  async function follow(): Promise<{
    dir: string;
    follower: LogFollower;
    entries: LogEntry[];
    events: string[];
  }> {
    const root = mkdtempSync(join(tmpdir(), "hookstream-changes-"));
    roots.push(root);
    const dir = join(root, "logs");
    mkdirSync(dir);
    writeFileSync(join(dir, "app.log"), "");
    const entries: LogEntry[] = [];
    const events: string[] = [];
    const follower = createLogFollower({
      dir,
      pollIntervalMs: 60_000,
      parse: { naiveZone: "Z" },
      pairTwins: false,
      emit: (entry) => entries.push(entry),
      log: (_level, message) => events.push(message),
      onDirectoryChange: (exists) => events.push(exists ? "directory found" : "directory gone"),
    });
    await follower.start();
    return { dir, follower, entries, events };
  }

  /** Runs `body` against a fresh follower, stopped afterwards whatever happens. */
  async function withFollower(body: (followed: Awaited<ReturnType<typeof follow>>) => Promise<void>) {
    const followed = await follow();
    try {
      await body(followed);
    } finally {
      followed.follower.stop();
    }
  }

  async function arrives(entries: LogEntry[], count: number, what: string) {
    const started = performance.now();
    await waitFor(() => entries.length >= count, PROMPTLY_MS, what);
    expect(performance.now() - started).toBeLessThan(PROMPTLY_MS);
  }

  test("every append arrives without waiting for a poll", async () =>
    withFollower(async ({ dir, entries }) => {
      for (let n = 1; n <= 20; n++) {
        appendFileSync(join(dir, "app.log"), line(n));
        await arrives(entries, n, `line ${n}`);
      }
      expect(entries.map((e) => e.message)).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i + 1}`));
    }));

  test("a rotation reads the renamed file's rest, then the new file from its start", async () =>
    withFollower(async ({ dir, follower, entries }) => {
      const current = join(dir, "app.log");
      appendFileSync(current, line(1));
      await arrives(entries, 1, "the first line");
      appendFileSync(current, line(2));
      renameSync(current, join(dir, "app.log.1"));
      writeFileSync(current, line(3));
      await arrives(entries, 3, "the rest of the old file and the new file");
      expect(entries.map((e) => e.message)).toEqual(["line 1", "line 2", "line 3"]);
      expect(follower.stats().rotationsSeen).toBe(1);
    }));

  test("a truncated file is read again from its start", async () =>
    withFollower(async ({ dir, follower, entries }) => {
      const file = join(dir, "app.log");
      appendFileSync(file, line(1) + line(2));
      await arrives(entries, 2, "the lines before the truncation");
      truncateSync(file, 0);
      appendFileSync(file, line(3));
      await arrives(entries, 3, "the line after the truncation");
      expect(entries.map((e) => e.message)).toEqual(["line 1", "line 2", "line 3"]);
      expect(follower.stats().truncationsSeen).toBe(1);
    }));

  test("a directory removed and created again is noticed both ways and followed again", async () =>
    withFollower(async ({ dir, follower, entries, events }) => {
      rmSync(dir, { recursive: true });
      await waitFor(() => !follower.directoryExists(), PROMPTLY_MS, "the directory noticed gone");
      expect(events).toContain("directory gone");
      mkdirSync(dir);
      await waitFor(() => follower.directoryExists(), PROMPTLY_MS, "the directory noticed back");
      writeFileSync(join(dir, "app.log"), line(1));
      await arrives(entries, 1, "a line of the new directory");
      appendFileSync(join(dir, "app.log"), line(2));
      await arrives(entries, 2, "an append in the new directory");
      expect(entries.map((e) => e.message)).toEqual(["line 1", "line 2"]);
    }));

  test(
    "events lost to a full queue are made up by a directory pass",
    async () =>
      withFollower(async ({ dir, follower, entries }) => {
        for (const name of ["a.log", "b.log", "c.log"]) writeFileSync(join(dir, name), "");
        await waitFor(() => follower.stats().files.length === 4, PROMPTLY_MS, "the new files followed");
        // The event loop is blocked while a child fills the queue past its bound (16,384 by default) with appends
        // to two followed files in turn (the kernel merges only repeats), then appends to a third: that append's
        // event is lost, and only the overflow tells of it.
        const fill = `for i in $(seq 1 9000); do echo x >> a.log; echo x >> b.log; done`;
        Bun.spawnSync(["sh", "-c", `${fill}; printf '%s\\n' '${line(1).trim()}' >> c.log`], { cwd: dir });
        const started = performance.now();
        await waitFor(
          () => entries.some((e) => e.message === "line 1"),
          PROMPTLY_MS,
          "the unreported append",
        );
        expect(performance.now() - started).toBeLessThan(PROMPTLY_MS);
        await waitFor(() => entries.length === 18_001, PROMPTLY_MS, "every line of the burst");
      }),
    30_000,
  );

  test("stopping closes every descriptor the follower opened", async () => {
    /** This process's descriptors that are inotify instances or lead into `dir`, as "fd target". */
    const openOf = (dir: string) =>
      readdirSync("/proc/self/fd").flatMap((fd) => {
        try {
          const target = readlinkSync(`/proc/self/fd/${fd}`);
          return target === "anon_inode:inotify" || target.startsWith(dir) ? [`${fd} ${target}`] : [];
        } catch {
          return []; // closed between listing and reading: not open
        }
      });
    // Other parts of this process (servers of other test files run in the same process) may hold inotify
    // descriptors of their own: only the ones that appear with this follower are its.
    const before = new Set(openOf("anon_inode:inotify"));
    const { dir, follower, entries } = await follow();
    appendFileSync(join(dir, "app.log"), line(1));
    await arrives(entries, 1, "a line");
    const opened = () => openOf(dir).filter((fd) => !before.has(fd));
    expect(opened().length).toBeGreaterThan(0);
    follower.stop();
    // The event stream lets go of its reference to the inotify descriptor once its cancel has run.
    await waitFor(() => opened().length === 0, 1_000, "every descriptor closed");
  });
});
