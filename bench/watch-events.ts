/**
 * Probe of the change sources hookstream's follower can wake up on, side by side on the same appends: the
 * runtime's `fs.watch` on a directory and inotify through `bun:ffi` (src/process/inotify.ts, what the
 * follower uses on Linux). A writer process appends a line every millisecond in bursts of 50, then pauses;
 * this counts each source's events and the bursts whose last append got no event at all (with fs.watch such
 * a line waits for the follower's poll), and how long after the last append its event came.
 *
 *   bun bench/watch-events.ts [bursts]
 */
import { mkdtempSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IN_MODIFY, openInotify } from "../src/process/inotify.ts";
import { nowMs } from "./lib/workload.ts";

const APPENDS_PER_BURST = 50;
const PAUSE_MS = 100;
/** An event later than this after the last append is not the one that should have woken the reader. */
const EVENT_WINDOW_MS = 90;

export interface SourceProbe {
  events: number;
  /** Bursts whose last append was followed by no event within the window. */
  lastAppendMissed: number;
  /** Median time from a burst's last append to the first event after it (ms), over the bursts that got one. */
  p50Ms: number | null;
}

export interface WatchProbe {
  bursts: number;
  appends: number;
  fsWatch: SourceProbe;
  /** null where inotify is not available. */
  inotify: SourceProbe | null;
}

function summarise(events: number[], lastAppends: number[]): SourceProbe {
  const delays: number[] = [];
  for (const at of lastAppends) {
    const first = events.find((e) => e >= at && e < at + EVENT_WINDOW_MS);
    if (first !== undefined) delays.push(first - at);
  }
  delays.sort((a, b) => a - b);
  return {
    events: events.length,
    lastAppendMissed: lastAppends.length - delays.length,
    p50Ms: delays.length === 0 ? null : (delays[Math.floor(delays.length / 2)] ?? null),
  };
}

async function appendInBursts(file: string, bursts: number): Promise<number[]> {
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
  return lastAppends;
}

export async function probeWatch(bursts: number): Promise<WatchProbe> {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-watch-"));
  const file = join(dir, "probe.log");
  writeFileSync(file, "");
  const fsEvents: number[] = [];
  const inotifyEvents: number[] = [];
  const watcher = watch(dir, { persistent: false }, () => {
    fsEvents.push(nowMs());
  });
  const inotify = openInotify(
    (records) => {
      const at = nowMs();
      for (const _ of records) inotifyEvents.push(at);
    },
    (error) => console.error(`inotify: ${String(error)}`),
    (reason) => console.error(`inotify not available: ${reason}`),
  );
  inotify?.add(dir, IN_MODIFY);
  try {
    await Bun.sleep(100);
    const lastAppends = await appendInBursts(file, bursts);
    await Bun.sleep(EVENT_WINDOW_MS + 10);
    return {
      bursts,
      appends: bursts * APPENDS_PER_BURST,
      fsWatch: summarise(fsEvents, lastAppends),
      inotify: inotify === null ? null : summarise(inotifyEvents, lastAppends),
    };
  } finally {
    watcher.close();
    inotify?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function describeSource(name: string, probe: SourceProbe, of: WatchProbe): string {
  const p50 = probe.p50Ms === null ? "" : `, last append's event after ${probe.p50Ms.toFixed(2)} ms (p50)`;
  return (
    `${name}: ${probe.events} events for ${of.appends} appends; ` +
    `${probe.lastAppendMissed} of ${of.bursts} bursts got no event for their last append${p50}`
  );
}

if (import.meta.main) {
  const bursts = Number(Bun.argv[2] ?? 20);
  const probe = await probeWatch(bursts);
  console.log(`Bun ${Bun.version}, appends 1 ms apart in bursts of ${APPENDS_PER_BURST}:`);
  console.log(`  ${describeSource("fs.watch", probe.fsWatch, probe)}`);
  console.log(
    `  ${probe.inotify === null ? "inotify: not available" : describeSource("inotify", probe.inotify, probe)}`,
  );
}
