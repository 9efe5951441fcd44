/**
 * Linux inotify through `bun:ffi`: the change source that does not drop events. Bun's `fs.watch` loses some
 * (bench/watch-events.ts: most bursts lost the event of their last append), so with it the follower had to
 * poll; inotify's queue keeps every event until it is read, and says so when it overflows (IN_Q_OVERFLOW).
 *
 * The descriptor is opened non-blocking and read with `Bun.file(fd).stream()`, which waits in the event
 * loop's poller: no timer, no thread. Records are parsed by `parseInotifyRecords` (pure, table-tested). Used
 * by the log follower (its directory) and the SQLite relay store (changes by another process).
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { closeSync } from "node:fs";
import { endianness } from "node:os";

export const IN_MODIFY = 0x2;
export const IN_ATTRIB = 0x4;
export const IN_MOVED_FROM = 0x40;
export const IN_MOVED_TO = 0x80;
export const IN_CREATE = 0x100;
export const IN_DELETE = 0x200;
export const IN_DELETE_SELF = 0x400;
export const IN_MOVE_SELF = 0x800;
export const IN_Q_OVERFLOW = 0x4000;
export const IN_IGNORED = 0x8000;
export const IN_ONLYDIR = 0x1000000;
/** The watch reports one event and is then removed (IN_IGNORED follows); add it again for more. */
export const IN_ONESHOT = 0x80000000;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;

/** `struct inotify_event`: int wd, uint32 mask, uint32 cookie, uint32 len, then `len` bytes of name. */
const RECORD_HEADER_BYTES = 16;
const decoder = new TextDecoder();

export interface InotifyRecord {
  /** The watch it belongs to (-1 for IN_Q_OVERFLOW). */
  wd: number;
  mask: number;
  /** The name inside a watched directory, or "" for an event on the watched path itself. */
  name: string;
}

/** The machine's byte order, which the kernel writes the records in. */
const LITTLE_ENDIAN = endianness() === "LE";

/**
 * The 32-bit word at `at`, signed. Read byte by byte rather than through a DataView: a view needs the bytes'
 * ArrayBuffer, and in profiles of the follower the `buffer` of the chunk the stream handed over took more
 * samples than the parse itself.
 */
function int32At(bytes: Uint8Array, at: number, littleEndian: boolean): number {
  const b0 = bytes[at] as number;
  const b1 = bytes[at + 1] as number;
  const b2 = bytes[at + 2] as number;
  const b3 = bytes[at + 3] as number;
  return littleEndian ? b0 | (b1 << 8) | (b2 << 16) | (b3 << 24) : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;
}

/**
 * The whole records in `bytes`, and the bytes of a record cut at the end (to be prefixed to the next read).
 * The name is NUL-padded by the kernel; the padding is dropped.
 */
export function parseInotifyRecords(
  bytes: Uint8Array,
  littleEndian = LITTLE_ENDIAN,
): { records: InotifyRecord[]; rest: Uint8Array } {
  const records: InotifyRecord[] = [];
  let at = 0;
  while (at + RECORD_HEADER_BYTES <= bytes.length) {
    const length = int32At(bytes, at + 12, littleEndian) >>> 0;
    const end = at + RECORD_HEADER_BYTES + length;
    if (end > bytes.length) break;
    const nameBytes = bytes.subarray(at + RECORD_HEADER_BYTES, end);
    const nul = nameBytes.indexOf(0);
    records.push({
      wd: int32At(bytes, at, littleEndian),
      mask: int32At(bytes, at + 4, littleEndian) >>> 0,
      name: decoder.decode(nul === -1 ? nameBytes : nameBytes.subarray(0, nul)),
    });
    at = end;
  }
  return { records, rest: bytes.slice(at) };
}

interface Libc {
  inotify_init1(flags: number): number;
  inotify_add_watch(fd: number, path: ReturnType<typeof ptr>, mask: number): number;
  inotify_rm_watch(fd: number, wd: number): number;
}

let libc: Libc | null | undefined;
let loadError = "";

/** libc's inotify calls, or null where there are none (not Linux, or the library cannot be loaded). */
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform !== "linux") return libc;
  for (const name of ["libc.so.6", "libc.so"]) {
    try {
      libc = dlopen(name, {
        inotify_init1: { args: [FFIType.i32], returns: FFIType.i32 },
        inotify_add_watch: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
        inotify_rm_watch: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      }).symbols as unknown as Libc;
      return libc;
    } catch (error) {
      // musl names it differently: try the next name; with none, the caller falls back to fs.watch.
      loadError = String(error);
    }
  }
  return libc;
}

export interface Inotify {
  /** Adds (or, for a path already watched, replaces) a watch; its descriptor, or -1 when it cannot. */
  add(path: string, mask: number): number;
  remove(wd: number): void;
  /** Stops reading and closes the descriptor (every watch goes with it). */
  close(): void;
}

/**
 * An inotify instance whose records are handed to `onRecords` as they are read; null when inotify is not
 * available here (the reason is passed to `unavailable`).
 */
export function openInotify(
  onRecords: (records: InotifyRecord[]) => void,
  onError: (error: unknown) => void,
  unavailable: (reason: string) => void,
): Inotify | null {
  const calls = loadLibc();
  if (calls === null) {
    unavailable(process.platform === "linux" ? `libc: ${loadError}` : `not Linux (${process.platform})`);
    return null;
  }
  const fd = calls.inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    unavailable("inotify_init1 failed (the per-user instance limit may be reached)");
    return null;
  }
  const reader = Bun.file(fd).stream().getReader();
  let closed = false;
  void (async () => {
    let rest: Uint8Array = new Uint8Array(0);
    for (;;) {
      const { done, value } = await reader.read();
      if (done || closed) return;
      const bytes = rest.length === 0 ? value : Buffer.concat([rest, value]);
      const parsed = parseInotifyRecords(bytes);
      rest = parsed.rest;
      if (parsed.records.length > 0) onRecords(parsed.records);
    }
  })().catch((error: unknown) => {
    if (!closed) onError(error);
  });

  return {
    add(path, mask) {
      if (closed) return -1;
      return calls.inotify_add_watch(fd, ptr(Buffer.from(`${path}\0`)), mask);
    },
    remove(wd) {
      if (!closed) calls.inotify_rm_watch(fd, wd);
    },
    close() {
      if (closed) return;
      closed = true;
      // The stream does not end when its descriptor is closed under it (measured): cancel it first. Closing
      // right after the (unawaited) cancel is safe: a file opened next with the same number was read intact.
      reader.cancel().catch(onError);
      closeSync(fd);
    },
  };
}
