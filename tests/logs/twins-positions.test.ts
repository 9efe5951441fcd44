/**
 * Saved positions and the pairing window: a position never passes an entry still held, and a clean stop saves
 * where everything let through ends — so a restart neither loses a held entry nor streams one twice.
 */
import { afterAll, expect, test } from "bun:test";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LogEntry } from "../../src/logs/entry.ts";
import { createLogFollower } from "../../src/logs/follow.ts";
import { createPositionFile, type PositionStore } from "../../src/logs/positions.ts";
import { TWIN_WAIT_MS } from "../../src/logs/twins.ts";
import { waitFor } from "../helpers/ws.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test("an entry held while positions are saved is streamed once across a clean stop and a restart", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-twin-positions-"));
  dirs.push(dir);
  const logDir = join(dir, "logs");
  const positionsPath = join(dir, "positions.json");
  mkdirSync(logDir);
  const text = join(logDir, "webhook-server.log");
  writeFileSync(text, "");
  writeFileSync(join(logDir, "webhooks.json"), "");
  const streamed: LogEntry[] = [];
  /**
   * Every save after the append, with how many entries were streamed when it was made. Recorded rather than
   * polled: the entry is held for only TWIN_WAIT_MS, and a test that polls for that moment misses it on a
   * loaded machine.
   */
  const savesAfterAppend: Array<{ offset: number | null; streamed: number }> = [];
  let appended = false;
  const positionFile = createPositionFile(positionsPath, () => {});
  const positions: PositionStore = {
    load: () => positionFile.load(),
    save(files) {
      positionFile.save(files);
      if (appended)
        savesAfterAppend.push({
          offset: files.find((file) => file.path === text)?.offset ?? null,
          streamed: streamed.length,
        });
    },
  };
  const start = async () => {
    const follower = createLogFollower({
      dir: logDir,
      pollIntervalMs: 50,
      parse: { naiveZone: "Z" },
      emit: (entry) => streamed.push(entry),
      log: () => {},
      positions,
      positionSaveIntervalMs: 1,
    });
    await follower.start();
    return follower;
  };

  /** The text file's saved offset, or null before the first save. */
  const savedOffset = (): number | null => {
    if (!existsSync(positionsPath)) return null;
    const saved = JSON.parse(readFileSync(positionsPath, "utf8")) as {
      files: Array<{ path: string; offset: number }>;
    };
    return saved.files.find((file) => file.path === text)?.offset ?? null;
  };

  const first = await start();
  // A record whose JSON copy never comes: it waits for its twin, and is saved as not streamed yet. The save
  // comes a millisecond after the read, the release after TWIN_WAIT_MS: timers fire in that order.
  appended = true;
  appendFileSync(text, "2026-12-02T04:45:23.000001+00:00 logs_server.log INFO only in text\n");
  await waitFor(() => streamed.length === 1, 2000, "the entry let through after the wait");
  expect(streamed[0]?.message).toBe("only in text");
  const whileHeld = savesAfterAppend.filter((save) => save.streamed === 0);
  expect(whileHeld.length).toBeGreaterThan(0);
  expect(whileHeld.map((save) => save.offset)).toEqual(whileHeld.map(() => 0));
  first.stop();
  expect(savedOffset()).toBe(statSync(text).size);

  const second = await start();
  appendFileSync(text, "2026-12-02T04:45:24.000001+00:00 logs_server.log INFO next\n");
  await waitFor(() => streamed.length === 2, 2000, "the next entry");
  await Bun.sleep(TWIN_WAIT_MS * 5);
  expect(streamed.map((e) => e.message)).toEqual(["only in text", "next"]);
  second.stop();
});
