/**
 * The re-check of open sessions' tokens: at once on a reported change, by the configured poll while the store
 * cannot report other processes' changes, and only by the slow safety net while it can.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SAFETY_NET_RECHECK_MS, startRecheck } from "../../src/relay/recheck.ts";
import { createSessionRegistry } from "../../src/relay/sessions.ts";
import { openSqliteStore } from "../../src/relay/sqlite-store.ts";
import type { ChangeOrigin, RelayStore } from "../../src/relay/store.ts";
import { generateToken } from "../../src/relay/tokens.ts";
import { waitFor } from "../helpers/ws.ts";

/**
 * A real store whose change reports are in the test's hands: `reliable` says whether it claims to report
 * other processes' changes, `report` is what it would send. Revocations are made on another connection to the
 * same database, as another process (the CLI) makes them.
 */
async function setUp(reliable: boolean, intervalMs: number) {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-recheck-"));
  const path = join(dir, "relay.db");
  const store = openSqliteStore(path);
  const other = openSqliteStore(path);
  const listeners: Array<(origin: ChangeOrigin) => void> = [];
  const watched: RelayStore = {
    ...store,
    watchChanges(listener) {
      listeners.push(listener);
      return { reliable: () => reliable, stop: () => listeners.splice(0) };
    },
  };
  const credentials = generateToken();
  const token = await store.createToken({ ...credentials, description: "", admin: false, bucketIds: null });
  const sessions = createSessionRegistry(60_000);
  let revoked = 0;
  sessions.add(token.id, { revoke: () => revoked++, ping: () => {} });
  const stop = startRecheck({ store: watched, sessions, intervalMs, log: () => {} });
  return {
    revoked: () => revoked,
    revokeElsewhere: () => other.revokeToken(credentials.key),
    revokeHere: () => store.revokeToken(credentials.key),
    report: (origin: ChangeOrigin) => {
      for (const listener of listeners) listener(origin);
    },
    async [Symbol.asyncDispose]() {
      stop();
      sessions.close();
      await other.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("a reported change closes the sessions of a revoked token at once", async () => {
  await using relay = await setUp(true, 50);
  await relay.revokeElsewhere();
  relay.report("external");
  await waitFor(() => relay.revoked() === 1, 1_000, "the session closed");
});

test("a store that cannot report changes is polled every interval", async () => {
  await using relay = await setUp(false, 50);
  await relay.revokeElsewhere();
  await waitFor(() => relay.revoked() === 1, 1_000, "the session closed by the poll");
});

test("a store that reports changes is only polled by the safety net", async () => {
  expect(SAFETY_NET_RECHECK_MS).toBeGreaterThanOrEqual(30_000);
  await using relay = await setUp(true, 50);
  await relay.revokeElsewhere();
  // Many configured intervals pass without a look: nothing was reported.
  await Bun.sleep(300);
  expect(relay.revoked()).toBe(0);
  relay.report("external");
  await waitFor(() => relay.revoked() === 1, 1_000, "the session closed once reported");
});

test("this store's own revocation is looked at although the version other processes move did not change", async () => {
  await using relay = await setUp(true, 50);
  await relay.revokeHere();
  relay.report("local");
  await waitFor(() => relay.revoked() === 1, 1_000, "the session closed");
});
