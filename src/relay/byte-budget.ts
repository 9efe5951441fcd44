/**
 * A shared allowance of bytes: request bodies reserve their size before they are read, so many large uploads
 * at once are turned away (503) instead of growing memory without bound.
 */
export interface ByteBudget {
  /** Takes `bytes` from the allowance; false (and nothing taken) when that would exceed it. */
  reserve(bytes: number): boolean;
  release(bytes: number): void;
  inUse(): number;
}

export function createByteBudget(limit: number): ByteBudget {
  let used = 0;
  return {
    reserve(bytes) {
      if (used + bytes > limit) return false;
      used += bytes;
      return true;
    },
    release(bytes) {
      used = Math.max(0, used - bytes);
    },
    inUse: () => used,
  };
}
