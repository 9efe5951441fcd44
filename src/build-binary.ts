#!/usr/bin/env bun
/**
 * Builds the single executable: the server, the management commands and the clients in one file for this
 * platform (`bun build --compile`), with the dashboard page bundled ahead of time and embedded.
 *
 *   bun run build:binary [--outfile dist/hookstream]
 *
 * Exit codes: 0 built, 1 the page or the executable failed to build, 2 bad usage.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildPage } from "./web/bundle.ts";
import { PREBUILT_PAGE_NAME, serialisePage } from "./web/prebuilt.ts";

const root = resolve(import.meta.dir, "..");
let outfile: string;
try {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { outfile: { type: "string" } } });
  outfile = resolve(values.outfile ?? join(root, "dist", "hookstream"));
} catch (error) {
  console.error(`error: ${(error as Error).message}\nusage: bun run build:binary [--outfile PATH]`);
  process.exit(2);
}

// Inside the repository, so the build's common root is the repository's and the embedded checkpoint thread
// is named `./src/relay/sqlite-checkpoint-worker.ts` (src/relay/sqlite-checkpoint.ts), wherever the output goes.
mkdirSync(join(root, "dist"), { recursive: true });
const staging = mkdtempSync(join(root, "dist", ".build-"));
const pagePath = join(staging, PREBUILT_PAGE_NAME);
try {
  writeFileSync(pagePath, serialisePage(await buildPage()));
} catch (error) {
  console.error(`error: bundling the page failed: ${(error as Error).message}`);
  process.exit(1);
}
const build = Bun.spawnSync(
  [
    process.execPath,
    "build",
    "--compile",
    "--minify",
    join(root, "src", "hookstream.ts"),
    // Started as a Worker (WAL checkpoints); an executable holds only the entry points it is given.
    join(root, "src", "relay", "sqlite-checkpoint-worker.ts"),
    pagePath,
    "--asset-naming",
    "[name].[ext]",
    "--outfile",
    outfile,
  ],
  { cwd: root, stdout: "inherit", stderr: "inherit" },
);
rmSync(staging, { recursive: true, force: true });
if (build.exitCode !== 0) process.exit(1);
console.log(`built ${outfile}`);
