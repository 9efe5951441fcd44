import { describe, expect, test } from "bun:test";
import { statusFromReply } from "../../src/cluster/log-writer.ts";
import type { RedisValue } from "../../src/cluster/redis.ts";

describe("the writer status read from one MGET", () => {
  const cases: [string, RedisValue, ReturnType<typeof statusFromReply>][] = [
    [
      "a held lease names its instance, the seq and whether it sees the directory",
      ["node-a/1f2e3d4c", "42", "1"],
      { leaseHolder: "node-a", streamSeq: 42, writerSeesDirectory: true },
    ],
    [
      "a writer that reported no directory says so",
      ["node-a/1f2e3d4c", "7", "0"],
      { leaseHolder: "node-a", streamSeq: 7, writerSeesDirectory: false },
    ],
    [
      "without a lease holder the directory flag is unknown",
      [null, "7", "1"],
      { leaseHolder: null, streamSeq: 7, writerSeesDirectory: null },
    ],
    [
      "a holder that never reported its directory leaves it unknown",
      ["node-a/1f2e3d4c", null, null],
      { leaseHolder: "node-a", streamSeq: 0, writerSeesDirectory: null },
    ],
    [
      "a seq that is not a number counts as zero",
      ["node-a/1f2e3d4c", "x", "1"],
      { leaseHolder: "node-a", streamSeq: 0, writerSeesDirectory: true },
    ],
    [
      "a reply that is not a list says nothing is known",
      null,
      { leaseHolder: null, streamSeq: 0, writerSeesDirectory: null },
    ],
  ];
  for (const [name, reply, expected] of cases)
    test(name, () => expect(statusFromReply(reply)).toEqual(expected));
});
