/**
 * The thread that checkpoints the relay database's WAL (see sqlite-checkpoint.ts): its own connection, one
 * PASSIVE checkpoint per request, the result posted back. PASSIVE never waits for the server's connection,
 * which keeps writing meanwhile.
 */
import { Database } from "bun:sqlite";

declare const self: Worker;

export type CheckpointRequest = { path: string; busyTimeoutMs: number } | { close: true };

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
      db.run(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(request.busyTimeoutMs))}`);
    }
    const row = db
      .query<{ busy: number; log: number; checkpointed: number }, []>("PRAGMA wal_checkpoint(PASSIVE)")
      .get();
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
