/**
 * The mirror's own Redis connection (the blocking XREAD one) is closed with the mirror, whatever the loop was
 * waiting for when close() came: a sync, or the connection being opened.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogMirror } from "../../src/cluster/log-mirror.ts";
import { logKeys } from "../../src/cluster/log-scripts.ts";
import { connectRedis, type Redis } from "../../src/cluster/redis.ts";
import { openJournal } from "../../src/logs/journal.ts";
import { createLogHub } from "../../src/logs/log-hub.ts";
import { suiteRedis, uniquePrefix } from "../helpers/cluster.ts";
import { redisAvailable, type TestRedis } from "../helpers/redis.ts";
import { quietLog } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

/** Clients connected to Redis, redis-cli's own connection not counted. */
async function clientCount(redis: TestRedis): Promise<number> {
  const list = await redis.cli("CLIENT", "LIST");
  return list.split("\n").filter((line) => line.includes("id=") && !line.includes("cmd=client")).length;
}

/** A gate: `wait()` resolves once `open()` was called. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait: () => opened, open };
}

describe.skipIf(!redisAvailable)("cluster mode: the log mirror's connection", () => {
  const redis = suiteRedis();

  for (const waitingFor of ["duplicate", "sync"] as const)
    test(`close() while the loop waits for ${waitingFor === "sync" ? "a sync" : "its connection"}: no connection stays open`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "hookstream-mirror-"));
      const connection = await connectRedis({ url: redis.url, log: quietLog });
      const before = await clientCount(redis);
      const held = gate();
      let evals = 0;
      const reached = gate();
      // The first sync (at start) passes; the loop's next step waits at the gate.
      const gated: Redis = {
        ...connection,
        async eval(script, keys, args) {
          if (waitingFor === "sync" && ++evals > 1) {
            reached.open();
            await held.wait();
          }
          return await connection.eval(script, keys, args);
        },
        async duplicate() {
          if (waitingFor === "duplicate") {
            reached.open();
            await held.wait();
          }
          return await connection.duplicate();
        },
      };
      const journal = openJournal({ dir, segmentBytes: 1 << 20, maxBytes: 1 << 24, log: quietLog });
      const hub = createLogHub({ publish() {}, redact: false, journal });
      const keys = logKeys(uniquePrefix());
      const mirror = createLogMirror({ redis: gated, keys, journal, hub, log: quietLog });
      await mirror.start();
      // An entry that does not continue the journal ends the loop's XREAD and makes it sync.
      if (waitingFor === "sync") await connection.send("XADD", [keys.stream, "*", "e", "{}"]);
      await reached.wait();
      mirror.close();
      held.open();
      await waitFor(
        async () => (await clientCount(redis)) === before,
        2000,
        "the mirror's connection closed",
      );
      // And it stays closed: no loop went on to open another.
      await Bun.sleep(300);
      expect(await clientCount(redis)).toBe(before);
      journal.close();
      connection.close();
      rmSync(dir, { recursive: true, force: true });
    });
});
