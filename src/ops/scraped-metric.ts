/**
 * Metrics whose samples are read when scraped: prom-client formats whatever `get()` returns, so a metric here
 * is a name, a help line and a function over the stats the parts already keep. Nothing is counted twice.
 */
import type { Metric, Registry } from "prom-client";

export type Labels = Record<string, string>;
export interface Sample {
  labels?: Labels;
  value: number;
  /** A histogram's `_bucket`, `_sum` and `_count` lines name themselves. */
  metricName?: string;
}

/** Registers `hookstream_<name>`, read by `read` at each scrape (a number is one sample without labels). */
export type DefineMetric = (
  type: "counter" | "gauge" | "histogram",
  name: string,
  help: string,
  read: () => Sample[] | number,
) => void;

export function scrapedMetrics(registry: Registry): DefineMetric {
  return (type, name, help, read) => {
    const fullName = `hookstream_${name}`;
    const metric = {
      name: fullName,
      help,
      type,
      aggregator: "sum",
      get: async () => {
        const value = read();
        return {
          name: fullName,
          help,
          type,
          aggregator: "sum",
          values: typeof value === "number" ? [{ value, labels: {} }] : value,
        };
      },
      reset() {},
    };
    registry.registerMetric(metric as unknown as Metric);
  };
}

/**
 * A histogram's samples from per-bucket counts (not cumulative; one more count than bounds, for the rest):
 * cumulative `_bucket` lines up to `+Inf`, then `_sum` and `_count`. Pure.
 */
export function histogramSamples(
  fullName: string,
  bounds: readonly number[],
  counts: readonly number[],
  sum: number,
): Sample[] {
  let cumulative = 0;
  const samples: Sample[] = bounds.map((bound, i) => {
    cumulative += counts[i] ?? 0;
    return { metricName: `${fullName}_bucket`, labels: { le: String(bound) }, value: cumulative };
  });
  cumulative += counts[bounds.length] ?? 0;
  samples.push(
    { metricName: `${fullName}_bucket`, labels: { le: "+Inf" }, value: cumulative },
    { metricName: `${fullName}_sum`, value: sum },
    { metricName: `${fullName}_count`, value: cumulative },
  );
  return samples;
}
