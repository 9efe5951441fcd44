/**
 * Where the follower was in each file, saved so a restart continues there instead of at the end: lines
 * written while hookstream was down are journaled and streamed after it comes back. Saved at most once per
 * interval and on shutdown, with write-then-rename so a crash never leaves half a file. Positions saved
 * before a crash may be slightly behind the journal: those lines are journaled again (at-least-once across
 * a crash, exactly-once across a clean restart).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { z } from "zod";

const positionsSchema = z.object({
  version: z.literal(1),
  files: z.array(
    z.object({ identity: z.string(), path: z.string(), offset: z.number().int().nonnegative() }),
  ),
});

export interface SavedPosition {
  identity: string;
  path: string;
  offset: number;
}

export interface PositionStore {
  load(): Map<string, SavedPosition>;
  save(positions: SavedPosition[]): void;
}

export function createPositionFile(
  path: string,
  log: (level: "warn", message: string) => void,
): PositionStore {
  return {
    load() {
      if (!existsSync(path)) return new Map();
      const parsed = positionsSchema.safeParse(
        (() => {
          try {
            return JSON.parse(readFileSync(path, "utf8"));
          } catch (error) {
            return { error: String(error) };
          }
        })(),
      );
      if (!parsed.success) {
        log("warn", `ignoring unreadable follower positions in ${path}; following files from their end`);
        return new Map();
      }
      return new Map(parsed.data.files.map((file) => [file.identity, file]));
    },
    save(positions) {
      const temporary = `${path}.tmp`;
      writeFileSync(temporary, JSON.stringify({ version: 1, files: positions }));
      renameSync(temporary, path);
    },
  };
}
