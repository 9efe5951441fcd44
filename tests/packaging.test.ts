import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  engines: { bun: string };
  packageManager: string;
};
const containerfile = readFileSync(join(root, "Containerfile"), "utf8");

test("package.json, the Containerfile and the running Bun agree on one pinned version", () => {
  const fromTag = /^FROM\s+\S*oven\/bun:(\d+\.\d+\.\d+)/m.exec(containerfile)?.[1];
  expect(pkg.engines.bun).toMatch(/^\d+\.\d+\.\d+$/);
  expect(fromTag).toBe(pkg.engines.bun);
  expect(pkg.packageManager).toBe(`bun@${pkg.engines.bun}`);
  expect(Bun.version).toBe(pkg.engines.bun);
});

test("the container runs as a non-root user with a health check and a data volume", () => {
  expect(containerfile).toMatch(/^USER\s+(?!root\b)\w+/m);
  expect(containerfile).toMatch(/^HEALTHCHECK\b.*\\\n\s*CMD \["bun", "src\/cli\.ts", "healthcheck"\]/m);
  expect(containerfile).toMatch(/^VOLUME\s+\["\/data"\]/m);
  expect(containerfile).toMatch(/DATA_DIR=\/data/);
});
