import { describe, expect, test } from "bun:test";
import { type Extra, indexAt, nextRow, offsetOf } from "../../src/web/client/log-geometry.ts";

const H = 20;
/** Row 2 is 30 px taller, row 5 is 100 px taller. */
const extras: Extra[] = [
  { index: 2, extra: 30 },
  { index: 5, extra: 100 },
];

describe("windowed list offsets", () => {
  const offsets: Array<[string, readonly Extra[], number, number]> = [
    ["with nothing expanded a row sits at its index times the row height", [], 7, 140],
    ["an expanded row does not move itself", extras, 2, 40],
    ["a row below an expanded row moves down by its extra", extras, 3, 90],
    ["rows below two expanded rows move by both extras", extras, 6, 250],
  ];
  for (const [name, list, index, top] of offsets)
    test(name, () => expect(offsetOf(list, H, index)).toBe(top));

  const hits: Array<[string, number, number]> = [
    ["the top of the list is row 0", 0, 0],
    ["inside an expanded row's extra height is still that row", 85, 2],
    ["just below an expanded row is the next row", 90, 3],
    ["past the second expanded row the count resumes", 250, 6],
    ["below the last row is the last row", 10_000, 9],
    ["above the list is row 0", -50, 0],
  ];
  for (const [name, y, index] of hits) test(name, () => expect(indexAt(extras, H, 10, y)).toBe(index));
});

describe("keyboard movement between rows", () => {
  const at = (current: number) => ({ current, firstVisible: 10, last: 99, page: () => 5 });
  const moves: Array<[string, string, number, number | null]> = [
    ["Arrow Down from a row goes to the next", "ArrowDown", 3, 4],
    ["Arrow Down from outside the rows goes to the first visible", "ArrowDown", -1, 10],
    ["Arrow Up from outside the rows goes to the first visible", "ArrowUp", -1, 10],
    ["Arrow Up from a row goes to the one above", "ArrowUp", 3, 2],
    ["Page Down moves a page", "PageDown", 3, 8],
    ["Page Up stops at the first row", "PageUp", 3, 0],
    ["Home goes to the first row", "Home", 50, 0],
    ["End goes to the last row", "End", 3, 99],
    ["another key moves nothing", "a", 3, null],
  ];
  for (const [name, key, current, next] of moves)
    test(name, () => expect(nextRow(key, at(current))).toBe(next));
});
