/**
 * Opening the SQLite relay database, and when its writes count as done. One connection per process; the
 * server and the CLI share the file, and WAL lets the CLI write while the server reads and writes.
 *
 * Durability ("full", the default): every write resolves only once the WAL is on disk. A webhook sender is
 * answered 2xx only after its delivery committed and GitHub does not retry, so a commit must survive power
 * loss, not only a crash of the process (which `synchronous=NORMAL` in WAL mode already survives).
 * `synchronous=FULL` would give that by fsyncing inside COMMIT, but bun:sqlite is synchronous: the whole event
 * loop would stop for every fsync, a third of the time under load. So the connection runs NORMAL (commits
 * write the WAL without syncing; consistency is the same) and the store fsyncs the WAL file itself on the
 * thread pool after each commit, resolving the write only then. Concurrent commits share one fsync: a commit
 * waits for an fsync that started after it. With group commit (writer.ts) that is one fsync per batch.
 * "normal" skips the explicit fsync: faster, and a power cut may lose the last commits.
 *
 * The database file is created readable by its owner only (WAL and shared-memory files inherit that mode):
 * it holds GitHub secrets as given (see sqlite-buckets.ts).
 */
import { Database } from "bun:sqlite";
import {
  close as closeCallback,
  closeSync,
  fdatasync as fdatasyncCallback,
  mkdirSync,
  open as openCallback,
  openSync,
  realpathSync,
} from "node:fs";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { runsAfterRequest } from "../process/runs-after-request.ts";
import { migrate } from "./migrations.ts";

export type Durability = "full" | "normal";

export interface SqliteStoreOptions {
  durability?: Durability;
  /** How long a write waits for another process's write lock before failing. */
  busyTimeoutMs?: number;
  /**
   * Caps the database file at about this size (SQLite's `max_page_count`); 0 or absent: no cap. Past it,
   * appending deliveries fails with StorageFullError as on a full disk, until retention frees pages.
   */
  maxBytes?: number;
  /** Where the store reports trouble it works around: a WAL checkpoint thread that failed, a database file
   * that cannot be watched for other processes' changes. Default: the checkpoint notice on stderr only. */
  log?: (level: "info" | "warn" | "error", message: string) => void;
}

/** Resolves to `value` once the commit that produced it is durable. */
export type Committed = <T>(value: T) => Promise<T>;

/** SQLite's "database or disk is full": the disk, or the `max_page_count` cap. */
export const isStorageFull = (error: unknown) =>
  error instanceof Error && (error as Error & { code?: unknown }).code === "SQLITE_FULL";

/** Creates the file owner-only before SQLite opens it; an existing file keeps its mode. */
function createPrivateFile(path: string): void {
  if (path === ":memory:") return;
  mkdirSync(dirname(path), { recursive: true });
  closeSync(openSync(path, "a", 0o600));
}

/** Opens and migrates the database, in WAL mode with the options' lock wait and size cap. */
export function openRelayDatabase(path: string, options: SqliteStoreOptions): Database {
  createPrivateFile(path);
  const db = new Database(path, { create: true, strict: true });
  try {
    db.run("PRAGMA journal_mode = WAL");
    db.run("PRAGMA synchronous = NORMAL");
    db.run(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.run("PRAGMA foreign_keys = ON");
    migrate(db);
  } catch (error) {
    db.close();
    // SQLite's messages ("file is not a database") do not say which file.
    throw new Error(`the relay database ${path} cannot be opened: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (options.maxBytes !== undefined && options.maxBytes > 0) {
    const pageSize = db.query<{ page_size: number }, []>("PRAGMA page_size").get()?.page_size ?? 4096;
    // PRAGMA takes no bound parameters; the value is an integer we computed.
    db.run(`PRAGMA max_page_count = ${Math.max(1, Math.ceil(options.maxBytes / pageSize))}`);
  }
  return db;
}

const openFile = promisify(openCallback);
const fdatasync = promisify(fdatasyncCallback);
const closeFile = promisify(closeCallback);

/**
 * Returns `durable()`: resolves once an fsync of the WAL file that started after the call has finished. Calls
 * made while an fsync runs share the next one.
 */
function walSyncer(walPath: string): { durable: () => Promise<void>; close: () => Promise<void> } {
  // A plain descriptor, not a FileHandle: Bun throws from the collector when it finds a FileHandle nobody
  // closed (a store dropped without close, in a test or on a crash path), failing whatever runs then.
  let file: Promise<number> | null = null;
  const syncs = runsAfterRequest(() => {
    // The WAL file exists once anything was committed, and lives as long as this connection.
    file ??= openFile(walPath, "r");
    return file.then((fd) => fdatasync(fd));
  });
  const close = async () => {
    // A failed fsync was already reported to the write that waited for it.
    await syncs.current()?.catch(() => undefined);
    await file?.then(
      (fd) => closeFile(fd),
      () => undefined,
    );
  };
  return { durable: syncs.request, close };
}

/** `committed` for the database at `path` under `durability`; `close` waits for the fsync in flight. */
export function walCommits(
  path: string,
  durability: Durability | undefined,
): { committed: Committed; close: () => Promise<void> } {
  const wal =
    durability === "normal" || path === ":memory:"
      ? { durable: async () => {}, close: async () => {} }
      : // SQLite follows a symlinked database file and keeps its WAL beside the target.
        walSyncer(`${realpathSync(path)}-wal`);
  const committed = async <T>(value: T): Promise<T> => {
    await wal.durable();
    return value;
  };
  return { committed, close: wal.close };
}
