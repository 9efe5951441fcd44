/**
 * A CPU profile of hookstream's hot path: the max-rate run again, with `bun --cpu-prof`, then the top
 * self-time functions. Kept apart from the measured run because sampling slows the server down.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../lib/peers.ts";
import { type ProfileSummary, readProfile, summariseProfile } from "../lib/profile.ts";
import type { BenchContext } from "./context.ts";
import { withServer } from "./context.ts";
import { maxRateLines, measureMaxRate } from "./maxrate.ts";

export interface ProfileResult {
  lines: number;
  receiveRate: number;
  file: string;
  summary: ProfileSummary;
}

export async function runProfile(ctx: BenchContext, outputDir: string): Promise<ProfileResult | null> {
  mkdirSync(outputDir, { recursive: true });
  const lines = maxRateLines(ctx, "hookstream");
  ctx.log(`profile hookstream: max-rate run of ${lines} lines under --cpu-prof`);
  const measured = await withServer(
    ctx,
    "hookstream",
    "profile",
    (run) => measureMaxRate(ctx, run, lines, 60_000),
    {
      cpuProfileDir: outputDir,
    },
  );
  ctx.log(
    `  ${Math.round(measured.receiveRate)} lines/s under the profiler, loss ${measured.loss}` +
      `${measured.capped ? " (time cap reached)" : ""}${measured.firstClose ? `, closed: ${measured.firstClose}` : ""}`,
  );
  // The server writes the profile as it exits, which withServer waited for.
  const file = join(outputDir, "hookstream.cpuprofile");
  if (!existsSync(file)) {
    ctx.log(`  no profile written to ${file}`);
    return null;
  }
  const summary = summariseProfile(await readProfile(file), REPO_ROOT, 15);
  ctx.log(
    `  ${summary.busyMs.toFixed(0)} ms busy of ${summary.totalMs.toFixed(0)} ms sampled; top self time:`,
  );
  for (const fn of summary.top.slice(0, 8))
    ctx.log(`    ${(fn.share * 100).toFixed(1).padStart(5)}%  ${fn.name}  ${fn.location}`);
  return { lines, receiveRate: measured.receiveRate, file, summary };
}
