/**
 * The cluster block of the benchmarks page: a run of one part of the cluster section replaces that part and
 * keeps the other one the page has.
 */
import { describe, expect, test } from "bun:test";
import {
  CLUSTER_LOGS_END,
  CLUSTER_LOGS_START,
  clusterBlockOf,
  keepLogStreamPart,
  spliceClusterBlock,
  spliceLogStreamBlock,
} from "../../bench/lib/cluster-report.ts";

const LOGS = `${CLUSTER_LOGS_START}\n### Log stream to one client\n\nold log-stream table\n${CLUSTER_LOGS_END}`;
const PAGE = spliceClusterBlock("# Benchmarks\n\n## Profile\n", `old relay table\n\n${LOGS}`);

describe("cluster block parts", () => {
  test("a relay-only run keeps the page's log-stream part", () => {
    const block = keepLogStreamPart(PAGE, "new relay table");
    expect(block).toBe(`new relay table\n\n${LOGS}`);
    expect(clusterBlockOf(spliceClusterBlock(PAGE, block))).toContain("old log-stream table");
    expect(clusterBlockOf(spliceClusterBlock(PAGE, block))).not.toContain("old relay table");
  });

  test("a run with both parts replaces both", () => {
    const fresh = `new relay table\n\n${CLUSTER_LOGS_START}\nnew log-stream table\n${CLUSTER_LOGS_END}`;
    expect(keepLogStreamPart(PAGE, fresh)).toBe(fresh);
  });

  test("a page without a log-stream part adds none", () => {
    const page = spliceClusterBlock("# Benchmarks\n", "old relay table");
    expect(keepLogStreamPart(page, "new relay table")).toBe("new relay table");
  });

  test("a log-stream-only run replaces only that part", () => {
    const page = spliceLogStreamBlock(
      PAGE,
      `${CLUSTER_LOGS_START}\nnew log-stream table\n${CLUSTER_LOGS_END}`,
    );
    expect(clusterBlockOf(page)).toContain("old relay table");
    expect(clusterBlockOf(page)).toContain("new log-stream table");
    expect(clusterBlockOf(page)).not.toContain("old log-stream table");
  });
});
