/**
 * The one lag rule for live sockets, log stream and relay alike: a socket whose send buffer holds more than
 * `lagBytes` is taken off the live fan-out (its owner's `onLag`) and catches up from storage at its own pace,
 * long before Bun's backpressure limit would close it.
 *
 * Sockets are checked each time another quarter of their room (`lagBytes`, or less, below) has been published
 * (over all topics: no socket received more than that since the last check), and once more `trailingCheckMs`
 * after the last publish, so a trickle to a stalled socket is caught too. So a live socket never holds more
 * than 1.25 times `lagBytes` plus one message — the same bound on both endpoints. The quarter keeps a stalled
 * socket's excess small beside the room `lagBytes` leaves a fast client's pauses, for one walk over the
 * sockets per quarter published.
 *
 * With `totalBytes`, the room of each socket is at most an equal share of it, recomputed as sockets join and
 * leave, so the live sockets together hold at most 1.25 times `totalBytes` plus a message each, however many
 * there are. A socket that joins shrinks the others' rooms; those over theirs leave at the next check.
 *
 * The trailing check runs only when a socket could be over its room: when the largest buffer seen at the
 * last check (or at a join) plus what was published since passes it. Healthy sockets on a trickle
 * then cost no timer and no walk over every socket ten times a second (500 sockets at 100 lines/s: 5,000
 * buffer reads a second). What a socket is sent outside the watch (a notice, an answer) is not counted there;
 * the regular checks still see it.
 */

/** A socket on the live fan-out, as the lag rule sees it. */
export interface LiveMember {
  bufferedAmount(): number;
  /** Too far behind: already taken off the lag watch; its owner takes it off its topics and catches it up. */
  onLag(): void;
}

export interface LagWatch {
  join(member: LiveMember): void;
  leave(member: LiveMember): void;
  /** After publishing `bytes` to the live topics (counted once per topic they went to). */
  published(bytes: number): void;
  /** Takes every member over the limit off the watch and tells it. */
  check(): void;
  stats(): { live: number; lagEvents: number };
  close(): void;
}

export interface LagWatchOptions {
  lagBytes: number;
  /**
   * What the live sockets of this watch may hold queued together: with many of them, each one's room
   * shrinks to an equal share of it (never above `lagBytes`). Default (or undefined): no shared bound.
   */
  totalBytes?: number | undefined;
  /** The check after the last publish; default 100 ms. */
  trailingCheckMs?: number;
  /** Called for a lagging member before its own `onLag` (the owner's bookkeeping, e.g. its topic). */
  onLag?: (member: LiveMember) => void;
}

/** Checks per room published: a socket is found at most a quarter of its room past it. */
const CHECKS_PER_LAG = 4;

export function createLagWatch(options: LagWatchOptions): LagWatch {
  const { lagBytes } = options;
  const totalBytes = options.totalBytes ?? Number.POSITIVE_INFINITY;
  const trailingCheckMs = options.trailingCheckMs ?? 100;
  const members = new Set<LiveMember>();
  /** Each live socket's room now: `lagBytes`, or its share of `totalBytes` when that is less. */
  let room = lagBytes;
  const resize = () => {
    room = Math.min(lagBytes, totalBytes / Math.max(1, members.size));
  };
  let bytesSinceCheck = 0;
  /** The largest buffer of a member that stayed, at the last check or at a join since. */
  let largestBuffered = 0;
  let lagEvents = 0;
  let trailing: ReturnType<typeof setTimeout> | null = null;

  const check = () => {
    bytesSinceCheck = 0;
    largestBuffered = 0;
    const lagging: LiveMember[] = [];
    for (const member of members) {
      const buffered = member.bufferedAmount();
      if (buffered > room) lagging.push(member);
      else if (buffered > largestBuffered) largestBuffered = buffered;
    }
    for (const member of lagging) members.delete(member);
    resize();
    for (const member of lagging) {
      lagEvents++;
      options.onLag?.(member);
      member.onLag();
    }
  };

  return {
    join(member) {
      members.add(member);
      resize();
      largestBuffered = Math.max(largestBuffered, member.bufferedAmount());
    },
    leave(member) {
      members.delete(member);
      resize();
    },
    published(bytes) {
      if (members.size === 0 || room === Number.POSITIVE_INFINITY) return;
      bytesSinceCheck += bytes;
      if (bytesSinceCheck >= room / CHECKS_PER_LAG) check();
      if (trailing !== null || largestBuffered + bytesSinceCheck <= room) return;
      trailing = setTimeout(() => {
        trailing = null;
        check();
      }, trailingCheckMs);
      trailing.unref?.();
    },
    check,
    stats: () => ({ live: members.size, lagEvents }),
    close() {
      if (trailing !== null) clearTimeout(trailing);
      trailing = null;
    },
  };
}
