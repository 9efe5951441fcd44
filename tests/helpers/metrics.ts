/** Scrapes /metrics and reads the Prometheus text format into `name{label="v",...}` → value. */
import type { TestServer } from "./server.ts";

export type Scrape = Map<string, number>;

/** Samples keyed by name and labels in the order the server wrote them. */
export function parseMetrics(text: string): Scrape {
  const samples: Scrape = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

export async function scrape(server: Pick<TestServer, "httpUrl">, headers: Record<string, string> = {}) {
  const response = await fetch(server.httpUrl("/metrics"), { headers });
  if (response.status !== 200)
    throw new Error(`/metrics answered ${response.status}: ${await response.text()}`);
  return parseMetrics(await response.text());
}

/** One sample's value; throws when the server did not write it (a missing metric is a failure, not 0). */
export function sample(scraped: Scrape, key: string): number {
  const value = scraped.get(key);
  if (value === undefined) throw new Error(`no sample ${key}`);
  return value;
}
