/**
 * The live sockets of one stream share `WS_QUEUED_TOTAL_BYTES`: with many of them each one's room is its
 * share. Both streams take it from the configuration: the log hub as every pipeline opens it, and the relay's
 * fan-out.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openLogHub } from "../../src/logs/pipeline.ts";
import { loadConfig } from "../../src/process/config.ts";
import { createFanout } from "../../src/relay/fanout.ts";
import type { LiveMember } from "../../src/stream/lag.ts";
import { makeEntry } from "../helpers/entries.ts";

/** Members each holding `queued` bytes; `lagged` collects those taken off. */
function members(count: number, queued: number) {
  const lagged: LiveMember[] = [];
  const list = Array.from({ length: count }, () => {
    const self: LiveMember = { bufferedAmount: () => queued, onLag: () => lagged.push(self) };
    return self;
  });
  return { list, lagged };
}

function configOf(env: Record<string, string>) {
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(loaded.problems.join("; "));
  return loaded.config;
}

/**
 * One stream's live side. `publishMiB` sends 1.25 MiB, more than the largest room here, so every member over
 * its room has been checked by the time it returns.
 */
type Stream = { join(member: LiveMember): void; publishMiB(): void; close(): void };

function logStream(env: Record<string, string>, dir: string): Stream {
  const config = configOf({ ...env, DATA_DIR: dir });
  const { hub, journal } = openLogHub(
    config,
    () => {},
    () => {},
  );
  return {
    join: (member) => void hub.subscribe({}, member),
    publishMiB() {
      const message = "x".repeat(64 * 1024);
      for (let i = 0; i < 20; i++) hub.publish(makeEntry({ message }));
      hub.endBatch();
    },
    close: () => journal.close(),
  };
}

function relayStream(env: Record<string, string>): Stream {
  const config = configOf(env);
  const fanout = createFanout({
    publish: () => {},
    subscriberCount: () => 1,
    lagBytes: config.relay.lagBytes,
    lagTotalBytes: config.relay.lagTotalBytes,
    startId: 0,
  });
  let id = 0;
  return {
    join: (member) => fanout.join(member),
    publishMiB() {
      const message = "x".repeat(64 * 1024);
      for (let i = 0; i < 20; i++) fanout.publish(++id, ["bucket"], () => message);
    },
    close: () => fanout.close(),
  };
}

describe("one shared room per stream", () => {
  const env = { LOG_LAG_BYTES: "1048576", RELAY_LAG_BYTES: "1048576", WS_QUEUED_TOTAL_BYTES: "4194304" };
  const streams: Array<[string, (dir: string) => Stream]> = [
    ["log stream", (dir) => logStream(env, dir)],
    ["relay", () => relayStream(env)],
  ];
  // 4 MiB shared: four members keep their 1 MiB rooms, eight get 512 KiB each.
  const cases: Array<[string, number, number, number]> = [
    ["four members holding 800 KiB stay", 4, 800 * 1024, 0],
    ["eight members holding 800 KiB all leave", 8, 800 * 1024, 8],
    ["eight members holding 400 KiB stay", 8, 400 * 1024, 0],
  ];
  for (const [streamName, open] of streams)
    for (const [name, count, queued, leaving] of cases)
      test(`${streamName}: ${name}`, () => {
        const dir = mkdtempSync(join(tmpdir(), "shared-room-"));
        const stream = open(dir);
        try {
          const { list, lagged } = members(count, queued);
          for (const member of list) stream.join(member);
          stream.publishMiB();
          expect(lagged.length).toBe(leaving);
        } finally {
          stream.close();
          rmSync(dir, { recursive: true, force: true });
        }
      });
});
