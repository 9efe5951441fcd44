/**
 * How many deliveries the follow of the shared stream asks for per read: few while it keeps up (a read is
 * published in one step), more while reads come back full. The rule is a table; the follower is driven by
 * a stream that answers what a test scripts, to see the rule applied read after read.
 */
import { describe, expect, test } from "bun:test";
import {
  type DeliveryStream,
  followDeliveryStream,
  nextReadRows,
  READ_ROWS,
  READ_ROWS_BEHIND,
} from "../../src/cluster/delivery-stream.ts";
import { STREAM_SEQ_LIMIT, streamCursors } from "../../src/relay/cursor.ts";
import type { ReplayedDelivery } from "../../src/relay/store.ts";

describe("rows per read", () => {
  test.each([
    ["a read that was not full asks for the base again", READ_ROWS, READ_ROWS - 1, READ_ROWS],
    ["an empty read too", READ_ROWS, 0, READ_ROWS],
    ["a full read doubles", READ_ROWS, READ_ROWS, READ_ROWS * 2],
    ["and doubles again", READ_ROWS * 2, READ_ROWS * 2, READ_ROWS * 4],
    ["up to the bound", READ_ROWS_BEHIND, READ_ROWS_BEHIND, READ_ROWS_BEHIND],
    ["a doubling past the bound stops at it", (READ_ROWS_BEHIND * 3) / 4, READ_ROWS_BEHIND, READ_ROWS_BEHIND],
    ["once caught up, back to the base at once", READ_ROWS_BEHIND, 3, READ_ROWS],
  ])("%s", (_, asked, got, next) => {
    expect(nextReadRows(asked, got)).toBe(next);
  });

  test("the follower asks for more while behind and for the base once it caught up, publishing everything once", async () => {
    const backlog = 1000;
    const delivery = (n: number): ReplayedDelivery => ({
      id: `${1 + Math.floor(n / STREAM_SEQ_LIMIT)}-${n % STREAM_SEQ_LIMIT}`,
      bucketId: "b",
      inputId: "i",
      githubDelivery: null,
      method: "POST",
      headers: {},
      query: "",
      body: new Uint8Array(),
      sourceAddress: "::1",
      receivedAt: 0,
      bucketName: "b",
      inputName: "i",
    });
    const all = Array.from({ length: backlog }, (_, n) => delivery(n));
    const asked: number[] = [];
    let done!: () => void;
    const caughtUp = new Promise<void>((resolve) => {
      done = resolve;
    });
    const stream: DeliveryStream = {
      async waitForDeliveries(afterPosition, _blockMs, maxRows) {
        asked.push(maxRows);
        const rest = all.filter((d) => streamCursors.positionOf(d.id) > afterPosition).slice(0, maxRows);
        if (rest.length === 0) {
          done();
          await Bun.sleep(5);
        }
        return rest;
      },
    };
    const published: string[] = [];
    const follower = followDeliveryStream({
      stream,
      cursors: streamCursors,
      fromPosition: 0,
      publish: (d) => published.push(d.id),
      log: () => {},
    });
    await caughtUp;
    await follower.stop();
    expect(published).toEqual(all.map((d) => d.id));
    // 32, 64, 128, then 256 until the backlog runs out, then the base again.
    expect(asked.slice(0, 4)).toEqual([READ_ROWS, READ_ROWS * 2, READ_ROWS * 4, READ_ROWS_BEHIND]);
    expect(asked.at(-1)).toBe(READ_ROWS);
    expect(Math.max(...asked)).toBe(READ_ROWS_BEHIND);
  });
});
