import { describe, expect, test } from "bun:test";
import { histogramSamples, type Sample } from "../../src/ops/scraped-metric.ts";

const line = (sample: Sample) =>
  `${sample.metricName}${sample.labels === undefined ? "" : `{le="${sample.labels.le}"}`} ${sample.value}`;

describe("histogram samples", () => {
  const cases: Array<[string, number[], number[], number, string[]]> = [
    [
      "per-bucket counts become cumulative, and the count past the last bound reaches only +Inf",
      [0.01, 0.1],
      [2, 3, 4],
      1.25,
      ['h_bucket{le="0.01"} 2', 'h_bucket{le="0.1"} 5', 'h_bucket{le="+Inf"} 9', "h_sum 1.25", "h_count 9"],
    ],
    [
      "nothing observed yet gives zeros, never a missing line",
      [0.5],
      [0, 0],
      0,
      ['h_bucket{le="0.5"} 0', 'h_bucket{le="+Inf"} 0', "h_sum 0", "h_count 0"],
    ],
    [
      "counts shorter than the bounds count the missing buckets as empty",
      [1, 2, 3],
      [1],
      0.5,
      [
        'h_bucket{le="1"} 1',
        'h_bucket{le="2"} 1',
        'h_bucket{le="3"} 1',
        'h_bucket{le="+Inf"} 1',
        "h_sum 0.5",
        "h_count 1",
      ],
    ],
  ];
  for (const [name, bounds, counts, sum, expected] of cases)
    test(name, () => {
      expect(histogramSamples("h", bounds, counts, sum).map(line)).toEqual(expected);
    });
});
