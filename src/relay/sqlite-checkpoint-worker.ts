/**
 * The thread that checkpoints the relay database's WAL (see sqlite-checkpoint.ts): its own connection, the
 * result posted back. PASSIVE passes, which never wait for the server's connection: the first copies the
 * bulk while the server keeps writing, each next one what was appended during the one before, until a pass
 * finds nothing new; the server's next commit then starts the WAL from its beginning. Without that, a server
 * that never stops writing never lets the WAL restart, and the file grew without bound (700 MB after 330 MB
 * of deliveries, measured). Only a WAL that is still past `restartAfterFrames` after the passes gets a
 * RESTART checkpoint, which holds the server's writes while it runs.
 */
import { Database } from "bun:sqlite";

declare const self: Worker;

/**
 * How long a RESTART checkpoint waits for the write lock and for readers to leave the WAL. The server's writes
 * wait for it meanwhile, so it is short; a reader still on the WAL past it (another process's long read)
 * leaves the restart to the next checkpoint instead of stalling the server.
 */
export const RESTART_WAIT_MS = 20;
/** PASSIVE passes per checkpoint at most: each is shorter than the one before while the server writes. */
const MAX_PASSES = 8;

export type CheckpointRequest = { path: string; restartAfterFrames: number } | { close: true };

export type CheckpointReply =
  | { ok: true; walFrames: number; checkpointed: number; ms: number }
  | { ok: false; error: string }
  | { closed: true };

let db: Database | null = null;

self.onmessage = (event: MessageEvent<CheckpointRequest>) => {
  const request = event.data;
  if ("close" in request) {
    db?.close();
    db = null;
    self.postMessage({ closed: true } satisfies CheckpointReply);
    return;
  }
  const started = performance.now();
  try {
    if (db === null) {
      db = new Database(request.path, { readwrite: true, create: false });
      db.run(`PRAGMA busy_timeout = ${RESTART_WAIT_MS}`);
    }
    const checkpoint = (mode: "PASSIVE" | "RESTART") =>
      db
        ?.query<{ busy: number; log: number; checkpointed: number }, []>(`PRAGMA wal_checkpoint(${mode})`)
        .get();
    const row = checkpoint("PASSIVE");
    let last = row;
    for (let pass = 1; pass < MAX_PASSES; pass++) {
      const next = checkpoint("PASSIVE");
      // Nothing was appended during the last pass (or the WAL already started over): all is copied.
      if (next == null || last == null || next.log <= last.log) {
        last = next;
        break;
      }
      last = next;
    }
    if ((last?.log ?? 0) > request.restartAfterFrames) checkpoint("RESTART");
    self.postMessage({
      ok: true,
      walFrames: row?.log ?? 0,
      checkpointed: row?.checkpointed ?? 0,
      ms: performance.now() - started,
    } satisfies CheckpointReply);
  } catch (error) {
    self.postMessage({ ok: false, error: String(error) } satisfies CheckpointReply);
  }
};
