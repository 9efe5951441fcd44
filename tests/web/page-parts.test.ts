import { describe, expect, test } from "bun:test";
import { fieldValue, fromLocalInput, inputValue, toLocalInput } from "../../src/web/client/filter-form.ts";
import { freshState, type HistoryState } from "../../src/web/client/history.ts";
import {
  connectionBadge,
  countsText,
  gapNotice,
  historyStatusText,
  olderButtonText,
  serverErrorNotice,
} from "../../src/web/client/notice-text.ts";
import { type Arrival, createPauseBuffer } from "../../src/web/client/pause-buffer.ts";
import type { ConnectionState } from "../../src/web/client/stream.ts";
import { tabAfterKey } from "../../src/web/client/tabs.ts";
import { makeEntry } from "../helpers/entries.ts";

const entry = (message: string) => makeEntry({ message });

describe("pause buffer", () => {
  /** A step: pause or resume (the toggle), forget what is held, or an entry arriving. */
  type Step = "toggle" | "clear" | string;
  interface Outcome {
    arrivals: Arrival[];
    /** Messages handed back by each resume, in order. */
    released: string[][];
    held: number;
    paused: boolean;
  }
  const cases: Array<[string, number, Step[], Outcome]> = [
    [
      "entries arriving while not paused are shown at once",
      3,
      ["a", "b"],
      { arrivals: ["show", "show"], released: [], held: 0, paused: false },
    ],
    [
      "entries arriving while paused are held",
      3,
      ["toggle", "a", "b"],
      { arrivals: ["held", "held"], released: [[]], held: 2, paused: true },
    ],
    [
      "the entry that fills the buffer says so, so the stream can be suspended",
      2,
      ["toggle", "a", "b"],
      { arrivals: ["held", "full"], released: [[]], held: 2, paused: true },
    ],
    [
      "resuming hands back the held entries oldest first and empties the buffer",
      3,
      ["toggle", "a", "b", "toggle", "c"],
      { arrivals: ["held", "held", "show"], released: [[], ["a", "b"]], held: 0, paused: false },
    ],
    [
      "new filters forget the held entries but the view stays paused",
      3,
      ["toggle", "a", "clear", "b"],
      { arrivals: ["held", "held"], released: [[]], held: 1, paused: true },
    ],
  ];
  for (const [name, max, steps, expected] of cases)
    test(name, () => {
      const buffer = createPauseBuffer(max);
      const arrivals: Arrival[] = [];
      const released: string[][] = [];
      for (const step of steps) {
        if (step === "toggle") released.push(buffer.toggle().map((e) => e.message));
        else if (step === "clear") buffer.clear();
        else arrivals.push(buffer.offer(entry(step)));
      }
      expect({ arrivals, released, held: buffer.held, paused: buffer.paused }).toEqual(expected);
    });
});

describe("filter form values", () => {
  const iso = "2026-11-23T10:00:05.000Z";
  const cases: Array<[string, () => string, string]> = [
    ["a text filter is trimmed", () => fieldValue("repository", "  a/b ", ""), "a/b"],
    ["the level is upper-cased", () => fieldValue("level", "error", ""), "ERROR"],
    [
      "a time the user did not touch keeps its URL form",
      () =>
        fieldValue("start_time", toLocalInput("2026-11-23T10:00:05.123456Z"), "2026-11-23T10:00:05.123456Z"),
      "2026-11-23T10:00:05.123456Z",
    ],
    [
      "a time entered in the form becomes an instant",
      () => fieldValue("end_time", toLocalInput(iso), ""),
      iso,
    ],
    ["a cleared time is no time", () => fieldValue("start_time", "", iso), ""],
    ["an unreadable time is no time", () => fieldValue("start_time", "soon", ""), ""],
    [
      "a time input shows the local time to the second",
      () => fromLocalInput(inputValue("start_time", iso)),
      iso,
    ],
    ["a bad time in the URL shows an empty input", () => inputValue("end_time", "yesterday"), ""],
    ["other fields show their value as it is", () => inputValue("hook_id", "h-1"), "h-1"],
  ];
  for (const [name, run, expected] of cases) test(name, () => expect(run()).toBe(expected));
});

describe("tabs", () => {
  const cases: Array<[string, number, string, number | null]> = [
    ["the right arrow moves to the next tab", 0, "ArrowRight", 1],
    ["the right arrow wraps round from the last tab", 1, "ArrowRight", 0],
    ["the left arrow wraps round from the first tab", 0, "ArrowLeft", 1],
    ["any other key moves nowhere", 0, "Enter", null],
  ];
  for (const [name, index, key, expected] of cases)
    test(name, () => expect(tabAfterKey(index, key, 2)).toBe(expected));
});

describe("what the page says", () => {
  const history = (overrides: Partial<HistoryState>): HistoryState => ({ ...freshState(), ...overrides });
  const live: ConnectionState = { kind: "live" };
  const cases: Array<[string, () => unknown, unknown]> = [
    ["a live stream says so", () => connectionBadge(live, false, 0), { state: "live", text: "Live" }],
    [
      "a reconnect says when and why",
      () => connectionBadge({ kind: "reconnecting", attempt: 2, inMs: 1500, reason: "closed" }, false, 0),
      { state: "reconnecting", text: "Reconnecting in 1.5 s (attempt 2): closed" },
    ],
    [
      "while paused the badge counts what is held",
      () => connectionBadge(live, true, 12_345),
      { state: "paused", text: "Paused: 12,345 new entries buffered" },
    ],
    [
      "a stopped stream is shown as stopped even while paused",
      () => connectionBadge({ kind: "failed", message: "bad filter" }, true, 3),
      { state: "failed", text: "Stopped: bad filter" },
    ],
    [
      "the counts name the bound once older entries were dropped",
      () => countsText({ entries: 100_000, droppedOldest: 5, maxEntries: 100_000, held: null }),
      "100,000 entries · 5 older dropped from view (keeping the newest 100,000)",
    ],
    [
      "the counts say how many arrived while paused",
      () => countsText({ entries: 2, droppedOldest: 0, maxEntries: 10, held: 0 }),
      "2 entries · 0 new while paused",
    ],
    [
      "the older button says when it is loading",
      () => olderButtonText(history({ loading: true })),
      "Loading…",
    ],
    [
      "the older button says when there is nothing older",
      () => olderButtonText(history({ exhausted: true })),
      "No older entries",
    ],
    [
      "the history status says how many were loaded and whether the search was complete",
      () => historyStatusText(history({ lastTookMs: 12, lastAdded: 1500, partial: true })),
      "1,500 older entries loaded in 12 ms (search incomplete)",
    ],
    [
      "the history status says why history is unavailable and what failed",
      () => historyStatusText(history({ unavailable: "no API", error: "network" })),
      "no API · network",
    ],
    [
      "a gap names where the stream resumed and what was asked for",
      () => gapNotice({ requested: "e-1", resumed_from: "e-9", message: "Retention removed them." }),
      {
        key: "gap-e-9",
        kind: "warning",
        text: "Some entries were missed: the server no longer holds entries before e-9 (asked to resume after e-1). Retention removed them.",
      },
    ],
    [
      "a server error is shown once per message",
      () => serverErrorNotice("Log directory not found"),
      { key: "server-Log directory not found", kind: "error", text: "Server: Log directory not found" },
    ],
  ];
  for (const [name, run, expected] of cases) test(name, () => expect(run()).toEqual(expected));
});
