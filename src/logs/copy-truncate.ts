/**
 * Copy-truncate rotation (logrotate's `copytruncate`): the original is copied to a rotated name
 * (`server.log.1`), then emptied in place and written again from its start. The copy is a new file, but it
 * holds what the original held, already streamed up to where the original had been read: it continues from
 * there (which also streams what was in the original and not read yet when it was emptied) instead of from
 * its first line.
 *
 * A new file is taken for a copy of a followed file when its name is the original's plus a rotation suffix
 * and its first bytes equal the original's first COPY_HEAD_BYTES (remembered, since the original is emptied).
 * logrotate copies first and truncates after, and the follower may look between the two: a copy whose
 * original has not been emptied yet (or is still being copied) waits for it, for at most COPY_PAIRING_MS.
 */
import { closeSync, readSync } from "node:fs";
import { basename, extname } from "node:path";
import type { LogFileAccess } from "./file-access.ts";

/**
 * Bytes of a file's start remembered to recognise its copy: 4 KiB holds tens of timestamped lines (equal by
 * chance only for a copy), and bounds the memory to 4 MiB at MAX_FOLLOWED_FILES.
 */
export const COPY_HEAD_BYTES = 4096;
/**
 * How long an emptied file waits for its copy, and a copy for its original to be emptied: logrotate truncates
 * right after copying, and copying a gigabyte takes seconds. After it, a copy whose original was never
 * emptied (logrotate's `copy`, or a plain `cp`) continues from where the original is read, like any copy.
 */
export const COPY_PAIRING_MS = 60_000;

/** Rotation suffixes: `.N`, and logrotate's dateext (`-YYYYMMDD`, `-YYYYMMDDHH`, `-YYYY-MM-DD`). */
const DATE_SUFFIX = String.raw`-(?:\d{8}(?:\d{2})?|\d{4}-\d{2}-\d{2})`;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Whether `name` is a rotated name of `original` (both base names): `x.log.1`, `x.log-20261202`, or with
 * logrotate's `extension` option the date before the extension (`x-20261202.log`).
 */
export function isRotatedName(name: string, original: string): boolean {
  const ext = extname(original);
  const stem = original.slice(0, original.length - ext.length);
  if (!name.startsWith(stem)) return false; // most pairs: no pattern to build
  const appended = `${escapeRegExp(original)}(?:\\.\\d+|${DATE_SUFFIX})`;
  const beforeExtension = ext === "" ? null : `${escapeRegExp(stem)}${DATE_SUFFIX}${escapeRegExp(ext)}`;
  return new RegExp(`^(?:${appended}${beforeExtension === null ? "" : `|${beforeExtension}`})$`).test(name);
}

/** Whether a file's first bytes agree with a remembered head: equal over the shorter of the two. */
export function headsAgree(first: Uint8Array, head: Uint8Array): boolean {
  const length = Math.min(first.length, head.length);
  for (let i = 0; i < length; i++) if (first[i] !== head[i]) return false;
  return true;
}

/** What a new file may be a copy of: a followed file, or one found emptied lately. */
export interface CopySource {
  path: string;
  /** Where the source had been read (before it was emptied). */
  offset: number;
  /** Its first bytes, up to COPY_HEAD_BYTES and its offset. */
  head: Uint8Array;
  /** Whether it has been emptied since it was read there. */
  emptied: boolean;
}

export interface CopyCandidate {
  identity: string;
  path: string;
  size: number;
}

export interface CopyTracker {
  /** A followed file was found emptied (its size below `offset`). */
  emptied(identity: string, source: Omit<CopySource, "emptied">, now: number): void;
  /**
   * Where a file that appeared after start-up starts: 0 for a new file, where its original had been read
   * for a copy, or null while it may be a copy whose original is not emptied yet (ask again later).
   * `first` reads the candidate's first COPY_HEAD_BYTES (null when it cannot be read).
   */
  startOf(
    candidate: CopyCandidate,
    followed: readonly CopySource[],
    first: () => Uint8Array | null,
    now: number,
  ): number | null;
}

export function createCopyTracker(): CopyTracker {
  /** Bounded by the followed files (one per identity) and by COPY_PAIRING_MS. */
  const emptiedFiles = new Map<string, CopySource & { at: number }>();
  /** Candidates waiting for their original: bounded by the listed files and by twice COPY_PAIRING_MS. */
  const waitingSince = new Map<string, number>();

  const prune = (now: number) => {
    for (const [identity, source] of emptiedFiles)
      if (now - source.at > COPY_PAIRING_MS) emptiedFiles.delete(identity);
    for (const [identity, since] of waitingSince)
      if (now - since > 2 * COPY_PAIRING_MS) waitingSince.delete(identity);
  };

  return {
    emptied(identity, source, now) {
      if (source.head.length > 0) emptiedFiles.set(identity, { ...source, emptied: true, at: now });
    },
    startOf(candidate, followed, first, now) {
      prune(now);
      const name = basename(candidate.path);
      const named = [...emptiedFiles.entries(), ...followed.map((source) => [null, source] as const)].filter(
        ([, source]) => source.head.length > 0 && isRotatedName(name, basename(source.path)),
      );
      if (named.length === 0) return 0;
      const bytes = first();
      const match = bytes === null ? undefined : named.find(([, source]) => headsAgree(bytes, source.head));
      if (match === undefined) {
        waitingSince.delete(candidate.identity);
        return 0;
      }
      const [emptiedIdentity, source] = match;
      const since = waitingSince.get(candidate.identity) ?? now;
      if (!source.emptied && now - since < COPY_PAIRING_MS) {
        waitingSince.set(candidate.identity, since);
        return null;
      }
      waitingSince.delete(candidate.identity);
      if (emptiedIdentity !== null) emptiedFiles.delete(emptiedIdentity);
      return Math.min(source.offset, candidate.size);
    },
  };
}

/** Followed files as copy sources: one listed below its offset has been emptied since it was read there. */
export function copySources(
  followed: Iterable<Omit<CopySource, "emptied"> & { identity: string }>,
  listing: ReadonlyArray<{ identity: string; size: number }>,
): CopySource[] {
  const sizes = new Map(listing.map((entry) => [entry.identity, entry.size]));
  return [...followed].map(({ path, offset, head, identity }) => ({
    path,
    offset,
    head,
    emptied: (sizes.get(identity) ?? offset) < offset,
  }));
}

/** The first `length` bytes of the file `identity` at `path` (a positioned read); null when unreadable. */
export function readHead(
  access: LogFileAccess,
  path: string,
  identity: string,
  length: number,
): Uint8Array | null {
  const fd = access.open(path, identity);
  if (fd === null) return null;
  try {
    return readHeadOf(fd, length);
  } finally {
    closeSync(fd);
  }
}

/** The first `length` bytes through an open descriptor, whatever its own position. */
export function readHeadOf(fd: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  return bytes.subarray(0, readSync(fd, bytes, 0, length, 0));
}
