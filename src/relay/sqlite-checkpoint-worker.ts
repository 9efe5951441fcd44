/**
 * The thread that checkpoints the relay database's WAL (see sqlite-checkpoint.ts): its own connection, the
 * result posted back. First a PASSIVE checkpoint, which never waits for the server's connection: it copies
 * the bulk while the server keeps writing. Then a RESTART one for what was appended meanwhile: it holds
 * the write lock for that short remainder and one sync, so the next commit starts the WAL from its
 * beginning. Without it, a server that never stops writing never lets the WAL restart, and the file grew
 * without bound (700 MB after 330 MB of deliveries, measured).
 */
import { Database } from "bun:sqlite";

declare const self: Worker;

/**
 * How long the RESTART pass waits for the write lock and for readers to leave the WAL. The server's writes
 * wait for it meanwhile, so it is short; a reader still on the WAL past it (another process's long read)
 * leaves the restart to the next checkpoint instead of stalling the server.
 */
export const RESTART_WAIT_MS = 20;

export type CheckpointRequest = { path: string } | { close: true };

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
    checkpoint("RESTART");
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
