/**
 * The floor block of the benchmarks page: rounds combine into the better run with loss, memory and falling
 * behind counted from all of them, and the block says in how many rounds hookstream's max-rate client fell
 * behind.
 */
import { describe, expect, test } from "bun:test";
import { combineRounds, type FloorRun } from "../../bench/floor.ts";
import { renderFloorTable } from "../../bench/floor-report.ts";

function run(server: FloorRun["server"], receiveRate: number, changes: Partial<FloorRun> = {}): FloorRun {
  const hookstream = server === "hookstream";
  return {
    scenario: "max",
    server,
    lines: 300_000,
    deliveries: 300_000,
    cpuSeconds: 1.5,
    seconds: 300_000 / receiveRate,
    receiveRate,
    writeRate: 500_000,
    runQueueSeconds: 0.1,
    latency: { count: 300_000, min: 100, p50: 500, p99: 1000, max: 1100 },
    peakRssKb: 90 * 1024,
    loss: 0,
    firstClose: null,
    lagEvents: hookstream ? 0 : null,
    sentLive: hookstream ? 300_000 : null,
    rounds: { of: 1, fellBehind: hookstream ? 0 : null },
    ...changes,
  };
}

describe("floor rounds", () => {
  test("the better round's figures, with loss, peak memory and falling behind from every round", () => {
    const live = run("hookstream", 150_000);
    const behind = run("hookstream", 100_000, {
      lagEvents: 1,
      peakRssKb: 97 * 1024,
      loss: 2,
      rounds: { of: 1, fellBehind: 1 },
    });
    const combined = combineRounds(behind, live);
    expect(combined.receiveRate).toBe(150_000);
    expect(combined.loss).toBe(2);
    expect(combined.peakRssKb).toBe(97 * 1024);
    expect(combined.rounds).toEqual({ of: 2, fellBehind: 1 });
    expect(combineRounds(combined, live).rounds).toEqual({ of: 3, fellBehind: 1 });
  });

  test("another server's rounds have nothing to fall behind", () => {
    expect(combineRounds(run("floor", 200_000), run("floor", 210_000)).rounds).toEqual({
      of: 2,
      fellBehind: null,
    });
  });
});

describe("the floor table", () => {
  const table = (hookstream: FloorRun) => renderFloorTable([run("floor", 200_000), hookstream]);

  const cases: Array<[string, FloorRun["rounds"], string | null]> = [
    ["both rounds live", { of: 2, fellBehind: 0 }, "fed from the journal in 0 of 2 rounds"],
    ["one round behind", { of: 2, fellBehind: 1 }, "fed from the journal in 1 of 2 rounds"],
  ];
  for (const [name, rounds, says] of cases)
    test(`says how often the max-rate client fell behind: ${name}`, () => {
      expect(table(run("hookstream", 150_000, { rounds }))).toContain(`${says}`);
    });

  test("says nothing of falling behind when hookstream did not run", () => {
    expect(renderFloorTable([run("floor", 200_000)])).not.toContain("fell behind");
  });

  test("the max rate row is hookstream's over the floor's", () => {
    expect(table(run("hookstream", 150_000))).toContain(
      "| max rate to 1 client: lines/s | 200,000 | – | – | 150,000 | ×0.75 | ≥ 0.95× | ❌ |",
    );
  });
});
