import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createLineAssembler, type LineAssembler } from "../../src/logs/assemble.ts";
import type { LogEntry } from "../../src/logs/entry.ts";
import { formatOfFile, type LogFormat, parseJsonLine, parseTextLine } from "../../src/logs/parse.ts";
import {
  createTwinWindow,
  mergeTwins,
  TWIN_WAIT_MS,
  type TwinWindow,
  type TwinWindowOptions,
  twinKey,
} from "../../src/logs/twins.ts";
import { type ProcessorWrite, processorWrites } from "../helpers/gws-replay.ts";
import { seededRandom } from "../helpers/random.ts";

const OWN_FIXTURE = join(import.meta.dir, "../fixtures/gws-twins");
const SHARED_FIXTURE = join(import.meta.dir, "../../../shared/fixtures/gws-live/logs");

interface Harness {
  window: TwinWindow;
  out: LogEntry[];
  /** Writes as the processor does; each write is read (and its text entries flushed) like one follower read. */
  write(file: string, text: string): void;
  advance(ms: number): void;
}

/** `present`: the formats the directory has files of (a file of a format can exist before its first line). */
function harness(
  naiveZone = "Z",
  busy: LogFormat | null = null,
  present: LogFormat[] = ["text", "json"],
  windowOptions: Partial<TwinWindowOptions> = {},
): Harness {
  let clock = 1_000;
  const out: LogEntry[] = [];
  const window = createTwinWindow({
    emit: (entry) => out.push(entry),
    formatBusy: (format) => format === busy,
    formatPresent: (format) => present.includes(format),
    now: () => clock,
    ...windowOptions,
  });
  const assemblers = new Map<string, LineAssembler>();
  let position = 0;
  const assemblerOf = (file: string) => {
    let assembler = assemblers.get(file);
    if (assembler === undefined) {
      const format = formatOfFile(file);
      assembler = createLineAssembler(format, { naiveZone }, (entry, at) =>
        window.offer(entry, { format, file, position: at }),
      );
      assemblers.set(file, assembler);
    }
    return assembler;
  };
  return {
    window,
    out,
    write(file, text) {
      const assembler = assemblerOf(file);
      for (const line of text.replace(/\n$/, "").split("\n"))
        assembler.push(line, "1970-01-01T00:00:00Z", position++);
      assembler.flush();
    },
    advance(ms) {
      clock += ms;
      window.release();
    },
  };
}

const textCopy = (ts: string, level: string, message: string) =>
  `${ts} webhook-server.log \u001b[32m${level}\u001b[0m ${message}\u001b[0m\n`;
const jsonCopy = (ts: string, level: string, message: string, extra: Record<string, unknown> = {}) =>
  `${JSON.stringify({ type: "log_entry", timestamp: ts, level, logger_name: "webhook-server.log", message, ...extra })}\n`;

const TS = "2026-12-02T04:45:23.525034+00:00";

/** Each text copy waits out its twin, and the JSON copies come seconds later: no JSON copy is seen before. */
function writeJsonCopiesLate(h: Harness, messages: readonly string[]): void {
  for (const message of messages) {
    h.write("webhook-server.log", textCopy(TS, "INFO", message));
    h.advance(TWIN_WAIT_MS);
  }
  h.advance(3_000);
  for (const message of messages) h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", message));
  h.advance(TWIN_WAIT_MS);
}
const PREFIXED = "mtv-api-tests [pull_request][308eb698][myakove-bot][PR 412]: Failed to fetch";
const CONTEXT = {
  hook_id: "308eb698",
  event_type: "pull_request",
  repository: "mtv-api-tests",
  pr_number: 412,
};

describe("pairing the processor's two copies of a record", () => {
  const cases: Array<[string, (h: Harness) => void, Array<Partial<LogEntry>>]> = [
    [
      "the text copy first, then the JSON copy: one entry, with the user only the text prefix names",
      (h) => {
        h.write(
          "webhook-server.log",
          textCopy(TS, "ERROR", `\u001b[38;5;172mmtv-api-tests\u001b[0m ${PREFIXED.slice(14)}`),
        );
        h.write("webhooks_2026-12-02.json", jsonCopy(TS, "ERROR", PREFIXED, { ...CONTEXT, api_user: "" }));
      },
      [{ message: "Failed to fetch", github_user: "myakove-bot", hook_id: "308eb698", pr_number: 412 }],
    ],
    [
      "the JSON copy first, then the text copy: one entry",
      (h) => {
        h.write("webhooks_2026-12-02.json", jsonCopy(TS, "ERROR", PREFIXED, { ...CONTEXT, api_user: "" }));
        h.write("webhook-server.log", textCopy(TS, "ERROR", PREFIXED));
      },
      [{ message: "Failed to fetch", github_user: "myakove-bot", timestamp: TS }],
    ],
    [
      "a line unprefixed in text takes the hook id only the JSON copy has",
      (h) => {
        h.write("webhook-server.log", textCopy(TS, "DEBUG", "Read config for repository mtv-api-tests"));
        h.write(
          "webhooks_2026-12-02.json",
          jsonCopy(TS, "DEBUG", "Read config for repository mtv-api-tests", CONTEXT),
        );
      },
      [
        {
          hook_id: "308eb698",
          repository: "mtv-api-tests",
          message: "Read config for repository mtv-api-tests",
        },
      ],
    ],
    [
      "a naive text timestamp pairs with the UTC JSON copy under the configured zone",
      (h) => {
        h.write(
          "webhook-server.log",
          textCopy("2026-12-02T06:45:23.525034", "INFO", "Application starting up..."),
        );
        h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "Application starting up..."));
      },
      [{ timestamp: TS, message: "Application starting up..." }],
    ],
    [
      "a message ending in a newline pairs with its text copy, whose reset code sits on the next line",
      (h) => {
        h.write("webhook-server.log", `${textCopy(TS, "ERROR", "git failed: no ref\n").trimEnd()}\n`);
        h.write("webhooks_2026-12-02.json", jsonCopy(TS, "ERROR", "git failed: no ref\n"));
      },
      [{ message: "git failed: no ref" }],
    ],
    [
      "a traceback in coloured continuation lines pairs with the same traceback in exc_info, and appears once",
      (h) => {
        h.write(
          "webhook-server.log",
          `${TS} webhook-server.log \u001b[31mERROR\u001b[0m Failed to get app bot login\nTraceback (most recent call last):\n  File \u001b[35m"x.py"\u001b[0m, line \u001b[35m3\u001b[0m\n\u001b[1;35mValueError\u001b[0m: boom\u001b[0m\n`,
        );
        h.write(
          "webhooks_2026-12-02.json",
          jsonCopy(TS, "ERROR", "Failed to get app bot login", {
            exc_info: 'Traceback (most recent call last):\n  File "x.py", line 3\nValueError: boom',
          }),
        );
      },
      [
        {
          message:
            'Failed to get app bot login\nTraceback (most recent call last):\n  File "x.py", line 3\nValueError: boom',
        },
      ],
    ],
    [
      "two distinct records with identical content in the same microsecond stay two entries",
      (h) => {
        h.write("webhook-server.log", textCopy(TS, "INFO", "retrying"));
        h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "retrying"));
        h.write("webhook-server.log", textCopy(TS, "INFO", "retrying"));
        h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "retrying"));
      },
      [{ message: "retrying" }, { message: "retrying" }],
    ],
    [
      "two identical text copies written before both JSON copies still pair one to one",
      (h) => {
        h.write("webhook-server.log", textCopy(TS, "INFO", "retrying"));
        h.write("webhook-server.log", textCopy(TS, "INFO", "retrying"));
        h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "retrying"));
        h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "retrying"));
      },
      [{ message: "retrying" }, { message: "retrying" }],
    ],
    [
      "a summary exists in JSON only and passes without waiting",
      (h) => {
        h.write("webhook-server.log", textCopy(TS, "INFO", "warm-up"));
        h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "warm-up"));
        h.advance(TWIN_WAIT_MS);
        h.write(
          "webhooks_2026-12-02.json",
          `${JSON.stringify({ type: "webhook_summary", hook_id: "h", event_type: "push", timing: { started_at: TS }, success: true })}\n`,
        );
      },
      [{ message: "warm-up" }, { logger_name: "webhook_summary", hook_id: "h" }],
    ],
  ];
  for (const [name, run, expected] of cases) {
    test(name, () => {
      const h = harness(name.includes("naive") ? "+02:00" : "Z");
      // A JSON copy has been seen before, as on any running directory: text copies wait for their twins.
      h.window.offer(
        { ...parsedJson(jsonCopy("2026-12-02T04:00:00+00:00", "INFO", "earlier")) },
        { format: "json", file: "webhooks_2026-12-02.json", position: 0 },
      );
      h.advance(TWIN_WAIT_MS); // its text copy never comes: it leaves after the wait
      h.out.length = 0;
      run(h);
      h.advance(TWIN_WAIT_MS);
      expect(h.out).toHaveLength(expected.length);
      for (const [i, want] of expected.entries()) expect(h.out[i]).toMatchObject(want);
      expect(h.window.held()).toBe(0);
    });
  }

  test("a copy whose twin never comes is let through after the wait, and counted", () => {
    const h = harness();
    h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "seen"));
    h.write("webhook-server.log", textCopy(TS, "INFO", "seen"));
    h.write("webhook-server.log", textCopy(TS, "INFO", "only in text"));
    expect(h.out.map((e) => e.message)).toEqual(["seen"]);
    h.advance(TWIN_WAIT_MS - 1);
    expect(h.out).toHaveLength(1);
    h.advance(1);
    expect(h.out.map((e) => e.message)).toEqual(["seen", "only in text"]);
    expect(h.window.stats()).toMatchObject({ pairsMerged: 1, twinNeverCame: 1, held: 0 });
  });

  test("a copy is not released while the other format still has bytes to read, however long that takes", () => {
    const h = harness("Z", "json");
    h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "seen"));
    h.write("webhook-server.log", textCopy(TS, "INFO", "waiting"));
    h.advance(TWIN_WAIT_MS * 100);
    expect(h.out.map((e) => e.message)).toEqual(["seen"]);
  });

  test("entries leave in the order their first copies arrived, even when a later one pairs first", () => {
    const h = harness();
    h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "warm-up"));
    h.advance(TWIN_WAIT_MS);
    h.write("webhook-server.log", textCopy(TS, "INFO", "first"));
    h.write("webhook-server.log", textCopy(TS, "INFO", "second"));
    h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "second"));
    expect(h.out.map((e) => e.message)).toEqual(["warm-up"]);
    h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "first"));
    expect(h.out.map((e) => e.message)).toEqual(["warm-up", "first", "second"]);
  });

  test("copies seconds apart: the first is let through, the late twin is dropped rather than streamed again", () => {
    const h = harness();
    h.write("webhook-server.log", textCopy(TS, "INFO", "warm-up"));
    h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "warm-up"));
    h.write("webhook-server.log", textCopy(TS, "INFO", "slow twin"));
    h.advance(3_000);
    h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "slow twin"));
    h.advance(TWIN_WAIT_MS);
    expect(h.out.map((e) => e.message)).toEqual(["warm-up", "slow twin"]);
    expect(h.window.stats()).toMatchObject({ pairsMerged: 1, twinNeverCame: 1, lateTwinsDropped: 1 });
  });

  test("a logger seen only in text stops waiting after a few records, and waits again once it pairs", () => {
    const h = harness();
    h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "warm-up"));
    h.advance(TWIN_WAIT_MS);
    const other = (n: number) => `${TS} logs_server.log INFO only text ${n}\n`;
    for (let n = 0; n < 3; n++) {
      h.write("logs_server.log", other(n));
      h.advance(TWIN_WAIT_MS);
    }
    const before = h.out.length;
    h.write("logs_server.log", other(3));
    expect(h.out).toHaveLength(before + 1);
    expect(h.window.held()).toBe(0);
  });

  test("twins late from the start: copies let through before the other format was ever seen are not streamed twice", () => {
    // A fresh follower whose JSON copies come long after their text copies: the logger is taken as writing
    // one copy after a few waits, and its next text copies pass at once, before any JSON copy was seen.
    const h = harness();
    const messages = Array.from({ length: 6 }, (_, n) => `late ${n}`);
    writeJsonCopiesLate(h, messages);
    expect(h.out.map((e) => e.message)).toEqual(messages);
    expect(h.window.stats()).toMatchObject({ pairsMerged: 0, lateTwinsDropped: 6 });
  });

  test("before the other format is seen, copies let through at once are remembered up to a bound", () => {
    // Past the bound a directory whose other format stays silent stops paying for remembering; a twin of a
    // copy let through past it, if one still comes, is streamed.
    const h = harness("Z", null, ["text", "json"], { rememberUnseenMax: 2 });
    const messages = Array.from({ length: 7 }, (_, n) => `late ${n}`);
    writeJsonCopiesLate(h, messages);
    // Three text copies waited out (remembered as released unpaired), two were let through at once and
    // remembered, two were not: their JSON twins wait out in turn and are streamed.
    expect(h.window.stats()).toMatchObject({ twinNeverCame: 5, lateTwinsDropped: 5 });
    expect(h.out.map((e) => e.message)).toEqual([...messages, "late 5", "late 6"]);
  });

  test("beside an idle file of the other format, a logger stops waiting after a few records", () => {
    const h = harness();
    for (let n = 0; n < 3; n++) {
      h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", `json only ${n}`));
      h.advance(TWIN_WAIT_MS);
    }
    h.write("webhooks_2026-12-02.json", jsonCopy(TS, "INFO", "json only 3"));
    expect(h.out.map((e) => e.message)).toEqual(["json only 0", "json only 1", "json only 2", "json only 3"]);
    expect(h.window.held()).toBe(0);
  });

  test("with one format in the directory nothing waits", () => {
    const h = harness("Z", null, ["text"]);
    h.write("webhook-server.log", textCopy(TS, "INFO", "a"));
    h.write("webhook-server.log", textCopy(TS, "INFO", "b"));
    expect(h.out.map((e) => e.message)).toEqual(["a", "b"]);
  });

  test("held entries are bounded: past the limit the oldest is let through unpaired", () => {
    let clock = 0;
    const out: LogEntry[] = [];
    const window = createTwinWindow({
      emit: (e) => out.push(e),
      formatBusy: () => true,
      now: () => clock,
      maxHeld: 5,
    });
    window.offer(parsedJson(jsonCopy(TS, "INFO", "warm-up")), { format: "json", file: "j", position: 0 });
    for (let n = 0; n < 8; n++) {
      const entry = parsedText(textCopy(TS, "INFO", `m${n}`));
      window.offer(entry, { format: "text", file: "t", position: n * 100 });
      clock++;
    }
    expect(window.held()).toBe(5);
    expect(out.map((e) => e.message)).toEqual(["warm-up", "m0", "m1", "m2"]);
    expect(window.stats().releasedAtLimit).toBe(4);
    expect(window.heldPositions().get("t")).toBe(300);
  });

  test("the file that ran ahead is told to pause, and may go on once its copies pair", () => {
    const out: LogEntry[] = [];
    const window = createTwinWindow({ emit: (e) => out.push(e), formatBusy: () => true, pauseHeld: 4 });
    window.offer(parsedText(textCopy(TS, "INFO", "warm-up")), { format: "text", file: "t", position: 0 });
    window.offer(parsedJson(jsonCopy(TS, "INFO", "warm-up")), { format: "json", file: "j", position: 0 });
    expect(out).toHaveLength(1);
    for (let n = 0; n < 6; n++)
      window.offer(parsedText(textCopy(TS, "INFO", `m${n}`)), { format: "text", file: "t", position: n });
    expect(window.mustPause("text")).toBe(true);
    expect(window.mustPause("json")).toBe(false);
    for (let n = 0; n < 4; n++)
      window.offer(parsedJson(jsonCopy(TS, "INFO", `m${n}`)), { format: "json", file: "j", position: n + 1 });
    expect(window.mustPause("text")).toBe(false);
    expect(out.map((e) => e.message)).toEqual(["warm-up", "m0", "m1", "m2", "m3"]);
  });
});

describe("generated interleavings of the two files", () => {
  test("every record comes out exactly once, however its copies, waits and busy files interleave", () => {
    const random = seededRandom(1);
    const options = { naiveZone: "Z" };
    let failures = 0;
    for (let trial = 0; trial < 3_000; trial++) {
      // Up to 12 records; some share a timestamp or a message, some are exactly alike (counted as a multiset).
      const records = Array.from({ length: 1 + random(12) }, (_, i) => {
        const timestamp = `2026-12-02T04:45:23.${String(random(3) === 0 ? 0 : i).padStart(6, "0")}+00:00`;
        const message = `m${random(3) === 0 ? 0 : i}`;
        return { timestamp, message };
      });
      let clock = 1_000;
      const busy: Record<LogFormat, boolean> = { text: false, json: false };
      const out: string[] = [];
      const window = createTwinWindow({
        emit: (entry) => out.push(`${entry.timestamp} ${entry.message}`),
        formatBusy: (format) => busy[format],
        formatPresent: () => true,
        now: () => clock,
      });
      let text = 0;
      let json = 0;
      while (text < records.length || json < records.length) {
        const step = random(10);
        if (step < 2) {
          // Time passes: within a wait, past it, or seconds (a twin that comes late).
          clock += [1, 5, TWIN_WAIT_MS + 1, 50, 3_000][random(5)] as number;
          window.release();
        } else if (step === 2) {
          busy.text = random(2) === 0;
          busy.json = random(2) === 0;
        } else if (json >= records.length || (text < records.length && random(2) === 0)) {
          const { timestamp, message } = records[text] as { timestamp: string; message: string };
          const entry = parseTextLine(`${timestamp} webhook-server.log INFO ${message}`, options) as LogEntry;
          window.offer(entry, { format: "text", file: "t", position: text++ });
        } else {
          const { timestamp, message } = records[json] as { timestamp: string; message: string };
          const line = JSON.stringify({
            type: "log_entry",
            timestamp,
            level: "INFO",
            logger_name: "webhook-server.log",
            message,
          });
          window.offer(parseJsonLine(line, options, "now"), { format: "json", file: "j", position: json++ });
        }
      }
      busy.text = false;
      busy.json = false;
      clock += 10 * TWIN_WAIT_MS;
      window.release();
      const expected = records.map((r) => `${r.timestamp} ${r.message}`).sort();
      if (JSON.stringify([...out].sort()) !== JSON.stringify(expected)) failures++;
    }
    expect(failures).toBe(0);
  });
});

describe("the merged entry", () => {
  test("each context field comes from whichever copy has it; a value beats null and the empty string", () => {
    const json = parsedJson(jsonCopy(TS, "INFO", "x", { hook_id: "h", repository: "r", api_user: "" }));
    const text = { ...json, hook_id: null, repository: "r", github_user: "bob", pr_number: 4 };
    expect(mergeTwins(json, text)).toMatchObject({
      hook_id: "h",
      repository: "r",
      github_user: "bob",
      pr_number: 4,
    });
  });

  test("raw lines, summaries and cut lines have no twin to wait for", () => {
    const raw = parsedText("not a record");
    expect(twinKey(raw)).toBeNull();
    expect(twinKey({ ...parsedJson(jsonCopy(TS, "INFO", "x")), truncated: true })).toBeNull();
  });
});

function parsedJson(line: string): LogEntry {
  return parsedOne("x.json", line);
}

function parsedText(line: string): LogEntry {
  return parsedOne("x.log", line);
}

function parsedOne(file: string, text: string): LogEntry {
  const out: LogEntry[] = [];
  const assembler = createLineAssembler(formatOfFile(file), { naiveZone: "Z" }, (entry) => out.push(entry));
  assembler.push(text.replace(/\n$/, ""), "1970-01-01T00:00:00Z");
  assembler.flush();
  return out[0] as LogEntry;
}

function replay(writes: ProcessorWrite[]): LogEntry[] {
  const h = harness();
  for (const write of writes) h.write(write.file, write.text);
  h.advance(TWIN_WAIT_MS);
  return h.out;
}

describe("a directory written by the processor's own logging code", () => {
  test("our fixture: 103 records give 103 entries, 5 of them ERROR, in the order they were written", () => {
    const entries = replay(processorWrites(OWN_FIXTURE));
    expect(entries).toHaveLength(103);
    expect(entries.filter((e) => e.level === "ERROR")).toHaveLength(5);
    expect(entries.filter((e) => e.logger_name === "webhook_summary")).toHaveLength(3);
    const times = entries.filter((e) => e.logger_name !== "webhook_summary").map((e) => e.timestamp);
    expect(times).toEqual([...times].sort());
    // Every request line now names its hook, and no JSON message keeps the processor's prefix.
    expect(entries.filter((e) => e.message === "Processing webhook" && e.hook_id === null)).toHaveLength(0);
    expect(entries.filter((e) => /^\S* ?\[[a-z_]+\]\[[0-9a-f-]+\]/.test(e.message))).toHaveLength(0);
    // The JSON copies left api_user empty; the merged entries name the user from the text prefix.
    const failed = entries.find((e) => e.message.startsWith("Failed to fetch PR 412 ref"));
    expect(failed).toMatchObject({
      github_user: "myakove-bot",
      hook_id: "308eb698-ee0b-11f1-bbe4-02fc00000001",
    });
    // The traceback of a handled error appears once, in its record.
    const withTraceback = entries.filter((e) => e.message.includes("Traceback (most recent call last)"));
    expect(withTraceback.length).toBe(3);
    for (const entry of withTraceback) expect(entry.message.match(/Traceback/g)).toHaveLength(1);
  });

  test.skipIf(!existsSync(SHARED_FIXTURE))(
    "the whole gws-live run: 335 records give 335 entries, 7 ERROR",
    () => {
      const entries = replay(processorWrites(SHARED_FIXTURE));
      expect(entries).toHaveLength(335);
      expect(entries.filter((e) => e.level === "ERROR")).toHaveLength(7);
      // Every record whose text prefix names the user streams it, though 251 JSON copies left api_user empty.
      const named = readFileSync(join(SHARED_FIXTURE, "webhook-server.log"), "utf8").match(
        /\]\[myakove-bot\]/g,
      );
      expect(entries.filter((e) => e.github_user === "myakove-bot").length).toBeGreaterThanOrEqual(
        named?.length ?? 1,
      );
      expect(entries.filter((e) => e.github_user === "")).toHaveLength(0);
    },
  );
});
