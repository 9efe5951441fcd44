/**
 * Probe of the runtime's `fs.watch` on a directory, the wake-up hookstream's follower relies on: a writer
 * process appends a line every millisecond in bursts of 50, then pauses; this counts the events delivered
 * and the bursts whose last append got no event at all (such a line waits for the follower's poll).
 *
 *   bun bench/watch-events.ts [bursts]
 */
import { mkdtempSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nowMs } from "./lib/workload.ts";

const APPENDS_PER_BURST = 50;
const PAUSE_MS = 100;
/** An event later than this after the last append is not the one that should have woken the reader. */
const EVENT_WINDOW_MS = 90;

export interface WatchProbe {
  bursts: number;
  appends: number;
  events: number;
  /** Bursts whose last append was followed by no event within the window. */
  lastAppendMissed: number;
}

export async function probeWatch(bursts: number): Promise<WatchProbe> {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-watch-"));
  const file = join(dir, "probe.log");
  writeFileSync(file, "");
  const events: number[] = [];
  const watcher = watch(dir, { persistent: false }, () => {
    events.push(nowMs());
  });
  try {
    await Bun.sleep(100);
    const script = `
      const { openSync, writeSync } = require("node:fs");
      const fd = openSync(${JSON.stringify(file)}, "a");
      const last = [];
      for (let b = 0; b < ${bursts}; b++) {
        let at = 0;
        for (let i = 0; i < ${APPENDS_PER_BURST}; i++) {
          at = performance.timeOrigin + performance.now();
          writeSync(fd, "x\\n");
          await Bun.sleep(1);
        }
        last.push(at);
        await Bun.sleep(${PAUSE_MS});
      }
      console.log(JSON.stringify(last));`;
    const writer = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
    const lastAppends = JSON.parse(await new Response(writer.stdout).text()) as number[];
    await writer.exited;
    await Bun.sleep(EVENT_WINDOW_MS + 10);
    const missed = lastAppends.filter(
      (at) => !events.some((e) => e >= at && e < at + EVENT_WINDOW_MS),
    ).length;
    return { bursts, appends: bursts * APPENDS_PER_BURST, events: events.length, lastAppendMissed: missed };
  } finally {
    watcher.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const bursts = Number(Bun.argv[2] ?? 20);
  const probe = await probeWatch(bursts);
  console.log(
    `Bun ${Bun.version}: ${probe.events} fs.watch events for ${probe.appends} appends 1 ms apart; ` +
      `${probe.lastAppendMissed} of ${probe.bursts} bursts got no event for their last append`,
  );
}
