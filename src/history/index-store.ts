/**
 * Where the history index is kept between runs: one file in DATA_DIR beside the journal (the data directory's
 * lock makes this process its only writer), written whole to a temporary file and renamed over the old one,
 * so a crash leaves the previous save or the new one, never a mix. A save that cannot be used (missing,
 * damaged, cut short, another format version, another LOG_DIR or other settings) is ignored with one log line
 * and the directory is indexed again: never a crash.
 */
import { open, rename, stat } from "node:fs/promises";
import type { IndexedFile } from "./chunk-index.ts";
import { decodeIndex, encodeIndex, type IndexSettings, savedBytesOf } from "./index-file.ts";

/**
 * Bytes the saved index may take. Each 256 KiB chunk costs 80 bytes to 2 KiB (under 1 % of the logs), so this
 * holds at least 30,000 chunks, 7.5 GB of logs at the worst; past it the oldest files are left out of the save
 * (said once in the log) and are indexed again after a restart.
 */
export const MAX_SAVED_INDEX_BYTES = 64 * 1024 * 1024;
/**
 * While indexing goes on the index is saved at most this often (a save of 1 GB's index writes a few MB):
 * indexing work is saved when a refresh finishes, or this long after the previous save, and at a clean stop.
 */
export const SAVE_INTERVAL_MS = 30_000;

export interface IndexStoreOptions {
  path: string;
  settings: IndexSettings;
  log: (level: "info" | "warn" | "error", message: string) => void;
  /** The index as it is now; called synchronously when a save starts. */
  snapshot: () => Iterable<IndexedFile>;
}

export interface IndexStoreStats {
  saves: number;
  saveFailures: number;
  savedBytes: number;
  /** Files past MAX_SAVED_INDEX_BYTES at the last save. */
  filesLeftOut: number;
}

export interface IndexStore {
  /** The saved files by identity: empty when nothing usable is saved (one log line says why). */
  load(): Promise<Map<string, IndexedFile>>;
  /** The index changed: saved SAVE_INTERVAL_MS after the previous save at the latest. */
  changed(): void;
  /** A refresh finished: saves now what changed if the previous save is SAVE_INTERVAL_MS old (or none was made). */
  settled(): void;
  /** Saves what changed and stops the timer (a clean stop). */
  close(): Promise<void>;
  stats(): IndexStoreStats;
}

/** The files that fit `maxBytes`, newest first (the oldest are left out), and how many did not. */
export function withinBound(
  files: Iterable<IndexedFile>,
  maxBytes = MAX_SAVED_INDEX_BYTES,
): { kept: IndexedFile[]; leftOut: number } {
  const newestFirst = [...files].sort((a, b) => b.mtimeMs - a.mtimeMs);
  const kept: IndexedFile[] = [];
  let bytes = 0;
  for (const file of newestFirst) {
    bytes += savedBytesOf(file);
    if (bytes > maxBytes) break;
    kept.push(file);
  }
  return { kept, leftOut: newestFirst.length - kept.length };
}

async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.tmp`;
  const handle = await open(temp, "w", 0o600);
  try {
    await handle.write(bytes);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/** The saved files by identity; empty, with one log line, when nothing usable is saved. */
async function loadSaved(options: IndexStoreOptions): Promise<Map<string, IndexedFile>> {
  const { path, log } = options;
  const none = new Map<string, IndexedFile>();
  const notUsed = (why: string) => {
    log("warn", `saved history index ${path} not used: ${why}; indexing LOG_DIR again`);
    return none;
  };
  let bytes: Uint8Array;
  try {
    const { size } = await stat(path);
    if (size > MAX_SAVED_INDEX_BYTES) return notUsed(`it is larger than ${MAX_SAVED_INDEX_BYTES} bytes`);
    bytes = await Bun.file(path).bytes();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") return notUsed(String(error));
    log("info", `no saved history index at ${path}: indexing LOG_DIR`);
    return none;
  }
  const decoded = decodeIndex(bytes, options.settings);
  if (!decoded.ok) return notUsed(decoded.reason);
  return new Map(decoded.files.map((file) => [file.identity, file]));
}

export function createIndexStore(options: IndexStoreOptions): IndexStore {
  const { path, log } = options;
  const stats: IndexStoreStats = { saves: 0, saveFailures: 0, savedBytes: 0, filesLeftOut: 0 };
  const createdAt = Date.now();
  let lastSaveAt: number | null = null;
  let dirty = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let saving: Promise<void> | null = null;
  let warnedBound = false;
  let closed = false;
  let failing = false;

  async function save(): Promise<void> {
    dirty = false;
    lastSaveAt = Date.now();
    const { kept, leftOut: pastEstimate } = withinBound(options.snapshot());
    const fitted = kept.length;
    let bytes = encodeIndex(options.settings, kept);
    // The bound is counted from an estimate; the loader refuses more, so the rare overshoot drops a file more.
    while (bytes.length > MAX_SAVED_INDEX_BYTES && kept.pop() !== undefined)
      bytes = encodeIndex(options.settings, kept);
    const leftOut = pastEstimate + fitted - kept.length;
    stats.filesLeftOut = leftOut;
    if (leftOut > 0 && !warnedBound) {
      warnedBound = true;
      log(
        "warn",
        `history index: ${leftOut} oldest files left out of the save (bound ${MAX_SAVED_INDEX_BYTES} bytes)`,
      );
    }
    try {
      await writeAtomically(path, bytes);
      stats.saves++;
      stats.savedBytes = bytes.length;
      if (failing) log("info", `history index saved to ${path} again`);
      failing = false;
    } catch (error) {
      dirty = true; // retried SAVE_INTERVAL_MS later, or at the stop
      stats.saveFailures++;
      // One line when saving starts failing and one when it works again, not one per attempt.
      if (!failing) log("warn", `history index not saved to ${path}: ${String(error)}`);
      failing = true;
    }
  }

  /** Saves SAVE_INTERVAL_MS after the previous save (or the start), unless a save is due already. */
  function schedule() {
    if (timer !== null || saving !== null || closed) return;
    const due = (lastSaveAt ?? createdAt) + SAVE_INTERVAL_MS - Date.now();
    timer = setTimeout(() => void saveNow(), Math.max(0, due));
    timer.unref();
  }

  /** One save at a time; what changed during a save is scheduled for the next one. */
  function saveNow(): Promise<void> {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    saving ??= save().finally(() => {
      saving = null;
      if (dirty) schedule();
    });
    return saving;
  }

  return {
    load: () => loadSaved(options),
    changed() {
      dirty = true;
      schedule();
    },
    settled() {
      if (closed) return;
      if (dirty && (lastSaveAt === null || Date.now() - lastSaveAt >= SAVE_INTERVAL_MS)) void saveNow();
    },
    async close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      if (saving !== null) await saving;
      if (dirty) await saveNow();
    },
    stats: () => ({ ...stats }),
  };
}
