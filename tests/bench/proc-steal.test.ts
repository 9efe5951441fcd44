/** The machine's stolen CPU share, read from /proc/stat's counters. */
import { describe, expect, test } from "bun:test";
import { cpuCounters, parseCpuCounters, stealPercent } from "../../bench/lib/proc.ts";

describe("CPU steal", () => {
  test("the cpu line's eight first counters, steal the eighth; guest time is not counted twice", () => {
    const stat = "cpu  100 5 50 800 10 0 5 30 7 0\ncpu0 50 2 25 400 5 0 2 15 3 0\nintr 1 2 3\n";
    expect(parseCpuCounters(stat)).toEqual({ total: 1000, steal: 30 });
  });

  test("text without a cpu line, or with too few counters, gives nothing", () => {
    expect(parseCpuCounters("intr 1 2 3\n")).toBeNull();
    expect(parseCpuCounters("cpu  1 2 3\n")).toBeNull();
  });

  test("the share between two readings, in whole per cent", () => {
    expect(stealPercent({ total: 1000, steal: 30 }, { total: 1400, steal: 230 })).toBe(50);
    expect(stealPercent({ total: 1000, steal: 30 }, { total: 1300, steal: 31 })).toBe(0);
    expect(stealPercent({ total: 1000, steal: 30 }, { total: 1000, steal: 30 })).toBe(0);
  });

  test("this machine's counters are read, and move on over 50 ms", async () => {
    const before = cpuCounters();
    await Bun.sleep(50);
    const after = cpuCounters();
    expect(before.total).toBeGreaterThan(0);
    expect(after.total).toBeGreaterThan(before.total);
    expect(after.steal).toBeGreaterThanOrEqual(before.steal);
    expect(stealPercent(before, after)).toBeLessThanOrEqual(100);
  });
});
