/**
 * The directory pass: lists the log files (through the file-access rule) and sorts them into files gone,
 * files known and files new, in the order their lines must be read.
 *
 * - Files are identified by device + inode, not by name, so a rename-rotation (`x.log` → `x.log.1`) keeps
 *   its position and its rest is read before the new `x.log`, which is read from its first byte.
 * - A file deleted (or no longer a log file) while tailed is drained through its open descriptor, then let go.
 * - Files present at start are followed from their end (or from the position saved by the previous run);
 *   files that appear later are read from the start. A follower taking over from another (`takeOverSince`)
 *   reads the files that one did not know and that changed since it stopped from the start too. A copy of a
 *   followed file continues where the original had been read (copy-truncate.ts), and its rest is read before
 *   the original's new lines.
 */
import { join } from "node:path";
import {
  COPY_HEAD_BYTES,
  type CopySource,
  type CopyTracker,
  copySources,
  readHead,
} from "./copy-truncate.ts";
import type { LogFileAccess, LogFileEntry } from "./file-access.ts";
import type { FollowedFile, Tailer } from "./file-tail.ts";
import type { SavedPosition } from "./positions.ts";

/** Most files followed at once; past it the most recently modified win (and a warning is logged). */
export const MAX_FOLLOWED_FILES = 1024;
/** A descriptor unused this long is closed; the file is reopened (and its identity checked) when it grows. */
export const IDLE_DESCRIPTOR_MS = 60_000;

export interface DirectoryScanOptions {
  dir: string;
  access: LogFileAccess;
  copies: CopyTracker;
  tailer: Tailer;
  /** Positions saved by a previous run, by file identity: used at start-up only. */
  savedPositions: ReadonlyMap<string, SavedPosition>;
  /** See FollowerOptions.takeOverSince. */
  takeOverSince: number | undefined;
  counters: { rotationsSeen: number };
  log: (level: "info" | "warn" | "error", message: string) => void;
  stopped(): boolean;
  /** The follower's batch end, waiting when it asks to. */
  endBatch(): Promise<void>;
  /** The directory appeared or disappeared. */
  directoryChanged(exists: boolean): void;
}

export interface DirectoryScan {
  /** The files followed now, by identity. */
  readonly files: ReadonlyMap<string, FollowedFile>;
  /** One directory pass at a time; requests during a pass fold into one more pass after it. */
  scan(): Promise<void>;
  /** The followed file a name in the directory stood for at the last pass. */
  fileNamed(name: string): FollowedFile | undefined;
  directoryExists(): boolean;
}

/** What a pass does with a file it follows that is still listed. */
export type KnownFileStep = "read" | "close" | "keep";

/**
 * Listed at another size than its offset: read it (a smaller size is a truncation, which the read notices).
 * Unchanged, with a descriptor unused longer than `idleMs`: close it. Else nothing.
 */
export function knownFileStep(
  file: Pick<FollowedFile, "offset" | "fd" | "lastActivity">,
  listed: Pick<LogFileEntry, "size">,
  now: number,
  idleMs = IDLE_DESCRIPTOR_MS,
): KnownFileStep {
  if (listed.size !== file.offset) return "read";
  return file.fd !== null && now - file.lastActivity > idleMs ? "close" : "keep";
}

/** The listing as followed: all of it, or the `max` most recently modified files. */
export function newestFiles(listing: LogFileEntry[], max: number): LogFileEntry[] {
  if (listing.length <= max) return listing;
  return [...listing].sort((a, b) => b.mtimeMs - a.mtimeMs).slice(0, max);
}

/**
 * Where a file present at start-up starts: its saved position while the file still reaches it, else its end,
 * or its start when it changed since the follower taken over from stopped.
 */
export function startUpOffset(
  entry: Pick<LogFileEntry, "size" | "mtimeMs">,
  saved: SavedPosition | undefined,
  takeOverSince: number | undefined,
): number {
  if (saved !== undefined && saved.offset <= entry.size) return saved.offset;
  return takeOverSince !== undefined && entry.mtimeMs >= takeOverSince ? 0 : entry.size;
}

/** Deleted (or no longer a log file): reads what is left through the open descriptor, then lets go. */
async function forget(options: DirectoryScanOptions, files: Map<string, FollowedFile>, file: FollowedFile) {
  file.ready = true;
  if (file.fd !== null) await options.tailer.pump(file);
  options.tailer.closeDescriptor(file);
  files.delete(file.identity);
  await options.endBatch();
}

/**
 * Where to start a file: at start-up see startUpOffset; later its start, or where its original had been
 * read for a copy (null: not yet, see copy-truncate.ts).
 */
function startOffset(
  options: DirectoryScanOptions,
  entry: LogFileEntry,
  atStartUp: boolean,
  sources: CopySource[],
): number | null {
  if (atStartUp)
    return startUpOffset(entry, options.savedPositions.get(entry.identity), options.takeOverSince);
  const first = () => readHead(options.access, entry.path, entry.identity, COPY_HEAD_BYTES);
  return options.copies.startOf(entry, sources, first, Date.now());
}

/** What one pass reads, in this order: copies, then known files, then new files. */
interface ReadPlan {
  /** Files not ready before the pass: they become ready once the copies are read. */
  held: FollowedFile[];
  known: FollowedFile[];
  added: Array<{ file: FollowedFile; size: number }>;
  copied: FollowedFile[];
}

/**
 * Followed files against the listing: gone ones are forgotten, renamed ones counted as rotations, grown ones
 * planned for reading, idle ones closed. Each file still listed is taken out of `present`.
 */
async function sortKnownFiles(
  options: DirectoryScanOptions,
  files: Map<string, FollowedFile>,
  present: Map<string, LogFileEntry>,
): Promise<Pick<ReadPlan, "known" | "held">> {
  const known: FollowedFile[] = [];
  const held: FollowedFile[] = [];
  for (const file of [...files.values()]) {
    if (!file.ready) held.push(file);
    const entry = present.get(file.identity);
    if (entry === undefined) {
      await forget(options, files, file);
      continue;
    }
    if (entry.path !== file.path) {
      options.counters.rotationsSeen++;
      file.path = entry.path;
    }
    present.delete(file.identity);
    const step = knownFileStep(file, entry, Date.now());
    if (step === "read") known.push(file);
    else if (step === "close") options.tailer.closeDescriptor(file);
  }
  return { known, held };
}

/** Starts following the files listed for the first time, sorted into ordinary new files and copies. */
function addNewFiles(
  options: DirectoryScanOptions,
  files: Map<string, FollowedFile>,
  present: ReadonlyMap<string, LogFileEntry>,
  listing: LogFileEntry[],
  fromEnd: boolean,
): Pick<ReadPlan, "added" | "copied"> {
  const added: ReadPlan["added"] = [];
  const copied: FollowedFile[] = [];
  let sources: CopySource[] | undefined;
  for (const entry of present.values()) {
    sources ??= fromEnd ? [] : copySources(files.values(), listing);
    const offset = startOffset(options, entry, fromEnd, sources);
    if (offset === null) continue; // maybe a copy whose original is not emptied yet: seen again next pass
    const file = options.tailer.create(entry, offset);
    files.set(entry.identity, file);
    if (fromEnd || offset === 0) added.push({ file, size: entry.size });
    else {
      options.log("info", `${entry.path} is a copy of a followed file; reading it from byte ${offset}`);
      copied.push(file);
    }
  }
  return { added, copied };
}

async function readInOrder(options: DirectoryScanOptions, plan: ReadPlan): Promise<void> {
  const { tailer } = options;
  // The new files' starting positions count as progress: a writer taking over must not follow them from
  // their end again.
  if (plan.added.length + plan.copied.length > 0) await options.endBatch();
  for (const file of plan.copied) {
    file.ready = true;
    await tailer.pump(file);
  }
  for (const file of plan.held) file.ready = true;
  for (const file of plan.known) await tailer.pump(file);
  for (const { file, size } of plan.added) {
    file.ready = true;
    if (file.offset < size) await tailer.pump(file);
  }
}

export function createDirectoryScan(options: DirectoryScanOptions): DirectoryScan {
  const { dir, access, log } = options;
  const files = new Map<string, FollowedFile>();
  const identityByPath = new Map<string, string>();
  let dirExists = false;
  let firstScanDone = false;
  let scanning: Promise<void> | null = null;
  let scanAgain = false;
  let warnedTooMany = false;

  const setDirectoryExists = (exists: boolean) => {
    if (exists === dirExists) return;
    dirExists = exists;
    options.directoryChanged(exists);
  };

  function listDirectory(): LogFileEntry[] | null {
    const listing = access.list();
    if (listing === null) return null;
    if (listing.length > MAX_FOLLOWED_FILES && !warnedTooMany) {
      log("warn", `${listing.length} log files; following the ${MAX_FOLLOWED_FILES} newest`);
      warnedTooMany = true;
    }
    return newestFiles(listing, MAX_FOLLOWED_FILES);
  }

  async function scanOnce(): Promise<void> {
    const listing = listDirectory();
    if (listing === null) {
      setDirectoryExists(false);
      for (const file of [...files.values()]) await forget(options, files, file);
      identityByPath.clear();
      firstScanDone = true;
      return;
    }
    setDirectoryExists(true);
    const fromEnd = !firstScanDone;
    firstScanDone = true;
    const present = new Map(listing.map((entry) => [entry.identity, entry]));
    identityByPath.clear();
    for (const entry of listing) identityByPath.set(entry.path, entry.identity);
    // Known files first (a rotated file's rest comes before its successor), then new ones; a copy's rest
    // before the new lines of its emptied original.
    const known = await sortKnownFiles(options, files, present);
    const fresh = addNewFiles(options, files, present, listing, fromEnd);
    await readInOrder(options, { ...known, ...fresh });
  }

  function scan(): Promise<void> {
    if (options.stopped()) return Promise.resolve();
    if (scanning !== null) {
      scanAgain = true;
      return scanning;
    }
    const run = async () => {
      try {
        do {
          scanAgain = false;
          await scanOnce();
        } while (scanAgain && !options.stopped());
      } catch (error) {
        log("error", `scanning ${dir} failed: ${String(error)}`);
      } finally {
        scanning = null;
      }
    };
    scanning = run();
    return scanning;
  }

  return {
    files,
    scan,
    fileNamed(name) {
      const identity = identityByPath.get(join(dir, name));
      return identity === undefined ? undefined : files.get(identity);
    },
    directoryExists: () => dirExists,
  };
}
