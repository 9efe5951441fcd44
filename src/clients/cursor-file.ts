/**
 * The forwarder's position on disk: one small JSON file, replaced atomically (write beside it, rename), so a
 * process killed at any instant leaves either the old cursor or the new one, never a torn file. It is written
 * after each finished prefix of deliveries, before another request is started in the slot that finished.
 *
 * Not fsynced: the file survives the process being killed (the page cache outlives it); after a power loss
 * the previous cursor may come back, and deliveries after it are sent again, never skipped.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface CursorFile {
  readonly path: string;
  /** The saved cursor; null when none was saved yet. Throws when the file exists but cannot be read. */
  load(): string | null;
  save(cursor: string): void;
}

export function openCursorFile(path: string): CursorFile {
  const temporary = `${path}.tmp`;
  return {
    path,
    load() {
      let text: string;
      try {
        text = readFileSync(path, "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw error;
      }
      const value: unknown = JSON.parse(text);
      if (
        typeof value !== "object" ||
        value === null ||
        typeof (value as { cursor?: unknown }).cursor !== "string"
      )
        throw new Error(`${path}: expected {"cursor": "..."}`);
      return (value as { cursor: string }).cursor;
    },
    save(cursor) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(temporary, `${JSON.stringify({ cursor, saved_at: new Date().toISOString() })}\n`);
      renameSync(temporary, path);
    },
  };
}
