/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the commit that crosses its
 * threshold, on the connection's thread: with `synchronous=NORMAL` it fsyncs the WAL and then the database
 * file, and bun:sqlite is synchronous, so every ~4 MB of deliveries the whole server stopped. Measured on
 * this machine with 7 KB rows in transactions of 8: 216 µs per row and a p99 transaction of 66 ms with the
 * automatic checkpoint, 78 µs and 12 ms without. So the server's connection turns it off and a worker
 * thread with its own connection runs a PASSIVE checkpoint once `CHECKPOINT_AFTER_BYTES` were written
 * since the last one. Durability does not change: commits still wait for their own fsync of the WAL
 * (sqlite-durability.ts), and SQLite orders the checkpoint's writes and syncs as always.
 * If the thread cannot start or a checkpoint fails, the connection goes back to the automatic checkpoint.
 */
import type { Database } from "bun:sqlite";
import type { CheckpointReply, CheckpointRequest } from "./sqlite-checkpoint-worker.ts";

/**
 * Bytes written since the last checkpoint before the next one starts: SQLite's own default threshold
 * (1000 pages of 4 KiB), so the WAL stays about the size it always had.
 */
export const CHECKPOINT_AFTER_BYTES = 1000 * 4096;
/**
 * WAL frames (4 KiB pages) left after the thread's PASSIVE passes past which it restarts the WAL: 32 MiB, the
 * WAL's bound under writes that never leave a quiet moment. Measured with a store that never pauses: a
 * RESTART after every checkpoint kept the WAL at 4–10 MB but stalled the event loop 3–5 s of 11–16 (the
 * server's writes wait while it holds the lock); the passes alone, restarting past 64 MiB, 0.5–1.5 s at 75 MB.
 */
export const RESTART_AFTER_FRAMES = 8192;
/** SQLite's default automatic checkpoint, restored when the thread is not available. */
const AUTO_CHECKPOINT_PAGES = 1000;
/** How long closing waits for the thread to finish a checkpoint and close its connection. */
const CLOSE_WAIT_MS = 5000;

export interface Checkpointer {
  /** Something was committed: about this many bytes went into the WAL. */
  wrote(bytes: number): void;
  /** Ends the thread; a checkpoint under way finishes (SQLite completes or abandons it safely). */
  close(): Promise<void>;
}

/**
 * The thread's module. In the single executable (src/build-binary.ts adds it as an entry point) embedded
 * modules are named by their path from the build's common root, not relative to the bundled code.
 */
const WORKER_ENTRY = import.meta.url.includes("/$bunfs/")
  ? "./src/relay/sqlite-checkpoint-worker.ts"
  : new URL("./sqlite-checkpoint-worker.ts", import.meta.url).href;

const NO_CHECKPOINTER: Checkpointer = { wrote: () => {}, close: async () => {} };

/**
 * The thread starts with the first checkpoint due, so a store that writes little (a command, a test) never
 * starts one; SQLite checkpoints whatever is left when the last connection closes.
 */
export interface CheckpointerOptions {
  db: Database;
  /** The database file, opened again by the thread. */
  path: string;
  log: (message: string) => void;
  /** After each checkpoint the thread ran: the WAL's frames and how many of them it copied. */
  onCheckpoint?: (walFrames: number, checkpointed: number) => void;
}

export function startCheckpointer(options: CheckpointerOptions): Checkpointer {
  const { db, path, log } = options;
  if (path === ":memory:") return NO_CHECKPOINTER;
  db.run("PRAGMA wal_autocheckpoint = 0");
  let worker: Worker | null = null;
  let written = 0;
  let running = false;
  let fallenBack = false;
  let closing = false;
  let onClosed: (() => void) | null = null;
  const fallBack = (why: string) => {
    if (fallenBack) return;
    fallenBack = true;
    db.run(`PRAGMA wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    log(`WAL checkpoints are back on the server's thread: ${why}`);
    worker?.terminate();
  };
  const onReply = (event: MessageEvent<CheckpointReply>) => {
    const reply = event.data;
    if ("closed" in reply) {
      onClosed?.();
      return;
    }
    running = false;
    if (!reply.ok) {
      fallBack(reply.error);
      return;
    }
    options.onCheckpoint?.(reply.walFrames, reply.checkpointed);
    if (written >= CHECKPOINT_AFTER_BYTES && !closing) start();
  };
  const spawn = (): Worker | null => {
    try {
      const thread = new Worker(WORKER_ENTRY);
      // Not waited for: the thread keeps no request of ours alive once the server is done.
      (thread as Worker & { unref(): void }).unref();
      thread.onmessage = onReply;
      thread.onerror = (event) => fallBack(event.message);
      return thread;
    } catch (error) {
      fallBack(String(error));
      return null;
    }
  };
  const start = () => {
    worker ??= spawn();
    if (worker === null) return;
    running = true;
    written = 0;
    worker.postMessage({ path, restartAfterFrames: RESTART_AFTER_FRAMES } satisfies CheckpointRequest);
  };
  return {
    wrote(bytes) {
      if (fallenBack || closing) return;
      written += bytes;
      if (!running && written >= CHECKPOINT_AFTER_BYTES) start();
    },
    async close() {
      if (fallenBack || closing) return;
      closing = true;
      const thread = worker;
      if (thread === null) return;
      // Requests are handled in order: the close comes after a checkpoint under way.
      const closed = new Promise<void>((resolve) => {
        onClosed = resolve;
        setTimeout(resolve, CLOSE_WAIT_MS).unref();
      });
      thread.postMessage({ close: true } satisfies CheckpointRequest);
      await closed;
      thread.terminate();
    },
  };
}
