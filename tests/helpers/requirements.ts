/**
 * System tools some tests need. On a developer machine a missing tool skips those tests with a visible
 * reason; under CI (`CI=true`), where `.ci/run` installs them, a missing tool fails instead.
 */
import { test } from "bun:test";

export const underCI = process.env.CI === "true";

/** Returns whether `available`; when not, registers a test that explains the skip (or fails under CI). */
export function requireTool(name: string, available: boolean, installHint: string): boolean {
  if (available) return true;
  if (underCI) {
    test(`${name} is installed (required under CI)`, () => {
      throw new Error(`${name} is missing under CI: ${installHint}`);
    });
  } else {
    test.skip(`${name} not found — skipped; install it with: ${installHint}`, () => {});
    console.warn(`skipping tests that need ${name}: ${installHint}`);
  }
  return false;
}
