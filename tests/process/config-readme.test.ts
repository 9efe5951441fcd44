/**
 * The README's configuration table is what operators read: it names every setting hookstream reads, each
 * with the default the server really uses.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { configSchema } from "../../src/process/config.ts";

const README = join(import.meta.dir, "../../README.md");

test("the README's configuration table names every setting with its default", async () => {
  const rows = new Map<string, string>();
  for (const match of (await Bun.file(README).text()).matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]+) \|/gm))
    rows.set(match[1] as string, (match[2] as string).trim());
  const settings = configSchema.in.shape;
  const defaults = configSchema.in.parse({}) as Record<string, unknown>;
  const names = Object.keys(settings);
  expect(names.length).toBeGreaterThan(40);
  const documented = names.map((name) => {
    const value = defaults[name];
    const shown =
      value === undefined ? rows.get(name) : `\`${Array.isArray(value) ? value.join(",") : String(value)}\``;
    return [name, rows.get(name), shown];
  });
  expect(documented.filter(([, row, shown]) => row === undefined || row !== shown)).toEqual([]);
  expect([...rows.keys()].filter((name) => !names.includes(name))).toEqual([]);
});
