/**
 * WAL checkpoints on a thread of their own: the server's connection never checkpoints inside a commit, the
 * thread checkpoints once enough was written, the store keeps every delivery across it, and a thread that
 * cannot work hands checkpoints back to SQLite's automatic one.
 */
import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CHECKPOINT_AFTER_BYTES,
  RESTART_AFTER_FRAMES,
  startCheckpointer,
} from "../../src/relay/sqlite-checkpoint.ts";
import { openRelayDatabase } from "../../src/relay/sqlite-durability.ts";
import { openSqliteStore } from "../../src/relay/sqlite-store.ts";
import { newDelivery } from "../helpers/deliveries.ts";

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-checkpoint-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

const autoCheckpoint = (db: Database) =>
  db.query<{ wal_autocheckpoint: number }, []>("PRAGMA wal_autocheckpoint").get()?.wal_autocheckpoint;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)),
  ]);
}

/** A checkpointer that must not fall back, and the first checkpoint it reports (WAL frames, frames copied). */
function watchedCheckpointer(db: Database, path: string) {
  let checkpointed!: (frames: { wal: number; copied: number }) => void;
  const done = new Promise<{ wal: number; copied: number }>((resolve) => {
    checkpointed = resolve;
  });
  const checkpoints = startCheckpointer({
    db,
    path,
    log: (message) => {
      throw new Error(`unexpected: ${message}`);
    },
    onCheckpoint: (wal, copied) => checkpointed({ wal, copied }),
  });
  return { checkpoints, done };
}

test("the thread checkpoints once enough was written, and the server's connection never does", async () => {
  using temp = tempDir();
  const path = join(temp.dir, "hookstream.db");
  const db = openRelayDatabase(path, {});
  const { checkpoints, done } = watchedCheckpointer(db, path);
  expect(autoCheckpoint(db)).toBe(0);
  db.run("CREATE TABLE filler (body BLOB)");
  const body = new Uint8Array(64 * 1024);
  const rows = Math.ceil(CHECKPOINT_AFTER_BYTES / body.byteLength) + 1;
  for (let i = 0; i < rows; i++) {
    db.query("INSERT INTO filler (body) VALUES (?)").run(body);
    checkpoints.wrote(body.byteLength);
  }
  const frames = await withTimeout(done, 10_000, "checkpoint");
  expect(frames.wal).toBeGreaterThan(CHECKPOINT_AFTER_BYTES / 4096);
  expect(frames.copied).toBe(frames.wal);
  await checkpoints.close();
  expect(db.query<{ n: number }, []>("SELECT count(*) AS n FROM filler").get()?.n).toBe(rows);
  db.close();
});

test("under writes that never pause the WAL stays bounded, and every delivery is read back after a reopen", async () => {
  using temp = tempDir();
  const path = join(temp.dir, "hookstream.db");
  const store = openSqliteStore(path);
  const { inputs, id: bucketId } = await store.createBucket("checkpointed");
  const inputId = inputs[0]?.id as string;
  const body = "a".repeat(48 * 1024);
  const count = Math.ceil((24 * CHECKPOINT_AFTER_BYTES) / body.length);
  let largestWal = 0;
  for (let i = 0; i < count; i += 10) {
    // Two batches in flight at once, as under load: the server's connection never waits for a quiet moment.
    await Promise.all(
      [0, 5].map((offset) =>
        store.appendDeliveries(
          Array.from({ length: Math.max(0, Math.min(5, count - i - offset)) }, () =>
            newDelivery(bucketId, body, null, inputId),
          ),
        ),
      ),
    );
    largestWal = Math.max(largestWal, statSync(`${path}-wal`).size);
  }
  // A WAL that never restarts holds every page written (about twice the bodies here, over 100 MB); the
  // bound is the restart threshold and what arrives during one checkpoint.
  expect(largestWal).toBeLessThan(RESTART_AFTER_FRAMES * 4096 + 8 * CHECKPOINT_AFTER_BYTES);
  await store.close();
  const reopened = openSqliteStore(path);
  expect((await reopened.recentDeliveries(bucketId, count + 1)).length).toBe(count);
  await reopened.close();
});

test("a thread that cannot checkpoint hands checkpoints back to SQLite's automatic one", async () => {
  using temp = tempDir();
  const path = join(temp.dir, "hookstream.db");
  const db = openRelayDatabase(path, {});
  let reported!: (message: string) => void;
  const logged = new Promise<string>((resolve) => {
    reported = resolve;
  });
  // The thread opens this path, which is no database: its checkpoint fails.
  const checkpoints = startCheckpointer({
    db,
    path: join(temp.dir, "missing.db"),
    log: (message) => reported(message),
  });
  expect(autoCheckpoint(db)).toBe(0);
  checkpoints.wrote(CHECKPOINT_AFTER_BYTES);
  expect(await withTimeout(logged, 10_000, "fallback")).toContain("back on the server's thread");
  expect(autoCheckpoint(db)).toBe(1000);
  await checkpoints.close();
  db.close();
});

test("a reader that stays on the WAL holds neither the checkpoint nor the server's writes", async () => {
  using temp = tempDir();
  const path = join(temp.dir, "hookstream.db");
  const db = openRelayDatabase(path, {});
  db.run("CREATE TABLE filler (body BLOB)");
  db.query("INSERT INTO filler (body) VALUES (?)").run(new Uint8Array(1024));
  // Another connection (as another process's long export would) keeps a read snapshot open.
  const reader = new Database(path, { readonly: true });
  reader.run("BEGIN");
  reader.query("SELECT count(*) FROM filler").get();
  const { checkpoints, done } = watchedCheckpointer(db, path);
  db.query("INSERT INTO filler (body) VALUES (?)").run(new Uint8Array(64 * 1024));
  const started = performance.now();
  checkpoints.wrote(CHECKPOINT_AFTER_BYTES);
  await withTimeout(done, 10_000, "checkpoint");
  // Nothing waited for the reader (a checkpoint that did would wait up to the store's 5 s lock timeout).
  expect(performance.now() - started).toBeLessThan(1000);
  const write = performance.now();
  db.query("INSERT INTO filler (body) VALUES (?)").run(new Uint8Array(1024));
  expect(performance.now() - write).toBeLessThan(1000);
  reader.run("COMMIT");
  reader.close();
  await checkpoints.close();
  db.close();
});
