/**
 * The Grafana dashboard: five panels whose queries name only metrics and labels a real server exposes, and,
 * with Prometheus installed, a real Prometheus scraping a real server under traffic answers every query.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { append, connectLogs, textLine } from "../helpers/logs.ts";
import { scrape } from "../helpers/metrics.ts";
import { freePort } from "../helpers/redis.ts";
import { relayFixture, repoRoot } from "../helpers/relay.ts";
import { requireTool } from "../helpers/requirements.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/ws.ts";

interface Panel {
  title: string;
  description: string;
  targets: Array<{ expr: string; legendFormat: string }>;
}
const dashboard = JSON.parse(readFileSync(join(repoRoot, "deploy/grafana/hookstream.json"), "utf8")) as {
  panels: Panel[];
};
const expressions = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));

/** The metric names an expression reads (a histogram's `_bucket` series named as such). */
const metricsOf = (expr: string) => [...expr.matchAll(/hookstream_\w+/g)].map((m) => m[0]);
/** The labels an expression groups by. */
const groupLabelsOf = (expr: string) =>
  [...expr.matchAll(/by \(([^)]*)\)/g)].flatMap((m) => (m[1] ?? "").split(",").map((label) => label.trim()));

describe("the dashboard", () => {
  test("has the five panels an on-call person looks at first, each saying what it shows", () => {
    expect(dashboard.panels.map((panel) => panel.title)).toEqual([
      "Open WebSocket connections",
      "Log entries per second",
      "Webhooks per second",
      "Slow clients",
      "Relay store commit time",
    ]);
    for (const panel of dashboard.panels) expect(panel.description.length).toBeGreaterThan(40);
  });

  test("queries only metrics and labels a real server exposes", async () => {
    await using server = await startTestServer();
    const samples = [...(await scrape(server)).keys()];
    for (const expr of expressions)
      for (const metric of metricsOf(expr)) {
        const series = samples.filter((key) => key === metric || key.startsWith(`${metric}{`));
        expect({ expr, metric, exposed: series.length > 0 }).toEqual({ expr, metric, exposed: true });
        for (const label of groupLabelsOf(expr))
          expect({ metric, label, exposed: series.some((key) => key.includes(`${label}="`)) }).toEqual({
            metric,
            label,
            exposed: true,
          });
      }
  });
});

const prometheus = Bun.which("prometheus");
if (requireTool("prometheus", prometheus !== null, "apt-get install -y --no-install-recommends prometheus")) {
  test("a real Prometheus scraping a server under traffic answers every panel's query", async () => {
    await using server = await startTestServer();
    await using relay = await relayFixture(server);
    const input = ((await relay.createBucket("grafana")).inputs[0] as { id: string }).id;
    const dir = mkdtempSync(join(tmpdir(), "hookstream-prometheus-"));
    const port = await freePort();
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: hookstream\n    static_configs: [{ targets: ["127.0.0.1:${server.server.port}"] }]\n`,
    );
    const child = Bun.spawn(
      [
        prometheus as string,
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { cwd: dir, stdout: "ignore", stderr: "ignore" },
    );
    const query = async (expr: string) => {
      const url = `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`;
      return (await (await fetch(url)).json()) as {
        status: string;
        error?: string;
        data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
    };
    try {
      await waitFor(
        async () => (await query("up").catch(() => null))?.data.result[0]?.value[1] === "1",
        15_000,
        "Prometheus scraping the server",
      );
      // Traffic over several scrapes: log lines streamed to a client, webhooks stored.
      const client = await connectLogs(server);
      for (let i = 1; i <= 12; i++) {
        append(server, "app.log", textLine({ seq: i }));
        expect((await relay.post(input, `{"n":${i}}`)).status).toBe(200);
        await client.next();
        await Bun.sleep(400);
      }
      for (const expr of expressions) {
        const answer = await query(expr.replaceAll("$instance", ".*").replaceAll("$__rate_interval", "10s"));
        expect({ expr, status: answer.status, error: answer.error }).toEqual({
          expr,
          status: "success",
          error: undefined,
        });
        expect({ expr, series: answer.data.result.length > 0 }).toEqual({ expr, series: true });
      }
      const streamed = await query("sum(rate(hookstream_log_entries_streamed_total[10s]))");
      expect(Number(streamed.data.result[0]?.value[1])).toBeGreaterThan(0);
      client.close();
    } finally {
      child.kill("SIGTERM");
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
}
