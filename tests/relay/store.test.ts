/**
 * What is specific to the SQLite store and the group-commit writer, on a real database file. The behaviour
 * every store shares is in store-contract.test.ts.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MIGRATIONS, migrate, schemaVersion } from "../../src/relay/migrations.ts";
import { openSqliteStore } from "../../src/relay/sqlite-store.ts";
import { type RelayStore, StorageFullError } from "../../src/relay/store.ts";
import { createDeliveryWriter, WriterBusyError } from "../../src/relay/writer.ts";
import { newDelivery as delivery } from "../helpers/deliveries.ts";

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-store-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

async function withStore(run: (store: RelayStore, path: string) => Promise<void>) {
  using temp = tempDir();
  const path = join(temp.dir, "hookstream.db");
  const store = openSqliteStore(path);
  try {
    await run(store, path);
  } finally {
    await store.close();
  }
}

describe("migrations", () => {
  test("a new database is migrated to the latest version, in WAL mode, readable by its owner only", async () => {
    await withStore(async (_store, path) => {
      const db = new Database(path, { readonly: true });
      expect(schemaVersion(db)).toBe(MIGRATIONS.length);
      expect(db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode).toBe("wal");
      db.close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
    });
  });

  test("migrations apply in order, once, and reopening applies nothing twice", () => {
    const db = new Database(":memory:");
    const steps = ["CREATE TABLE a (x)", "INSERT INTO a VALUES (1)", "ALTER TABLE a ADD COLUMN y"];
    expect(migrate(db, steps.slice(0, 2))).toBe(2);
    expect(migrate(db, steps.slice(0, 2))).toBe(2);
    expect(migrate(db, steps)).toBe(3);
    expect(db.query("SELECT x, y FROM a").all()).toEqual([{ x: 1, y: null }]);
    db.close();
  });

  test("a failing migration leaves the version where it was", () => {
    const db = new Database(":memory:");
    expect(() => migrate(db, ["CREATE TABLE a (x)", "NOT SQL"])).toThrow();
    expect(schemaVersion(db)).toBe(1);
    db.close();
  });

  test("a database newer than the code is refused", () => {
    const db = new Database(":memory:");
    db.run(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
    expect(() => migrate(db)).toThrow(/newer than this hookstream/);
    db.close();
  });
});

describe("SQLite cursors", () => {
  test("the cursor epoch is random per database and kept; the last id survives deletions", async () => {
    using temp = tempDir();
    const one = openSqliteStore(join(temp.dir, "one.db"));
    const two = openSqliteStore(join(temp.dir, "two.db"));
    const bucket = await one.createBucket("a");
    await one.appendDeliveries([delivery(bucket.id, "1"), delivery(bucket.id, "2")]);
    await one.deleteBucket(bucket.id);
    const position = await one.deliveryPosition();
    const epochOf = (cursors: { format(position: number): string }) => cursors.format(0).slice(0, 8);
    expect(position.cursors.format(2)).toMatch(/^[0-9a-f]{8}-2$/);
    expect(position.lastPosition).toBe(2);
    expect(epochOf((await two.deliveryPosition()).cursors)).not.toBe(epochOf(position.cursors));
    expect((await two.deliveryPosition()).lastPosition).toBe(0);
    await one.close();
    await two.close();
    const reopened = openSqliteStore(join(temp.dir, "one.db"));
    const again = await reopened.deliveryPosition();
    expect(again.lastPosition).toBe(position.lastPosition);
    expect(again.cursors.format(2)).toBe(position.cursors.format(2));
    await reopened.close();
  });
});

describe("a full database", () => {
  test("a batch that does not fit fails whole with StorageFullError; once space is freed, appends work", async () => {
    using temp = tempDir();
    const path = join(temp.dir, "hookstream.db");
    // SQLite's max_page_count gives a real SQLITE_FULL, as a full disk would.
    const store = openSqliteStore(path, { maxBytes: 256 * 1024 });
    const bucket = await store.createBucket("a");
    const body = (label: string) => `${label}:${"x".repeat(20_000)}`;
    let fitted = 0;
    for (; fitted < 100; fitted++) {
      const attempt = store.appendDeliveries([delivery(bucket.id, body(`single-${fitted}`))]);
      const stored = await attempt.then(
        () => true,
        (error: unknown) => {
          if (error instanceof StorageFullError) return false;
          throw error;
        },
      );
      if (!stored) break;
    }
    expect(fitted).toBeGreaterThan(2);
    expect(fitted).toBeLessThan(100);
    await expect(
      store.appendDeliveries([
        delivery(bucket.id, "small-1"),
        delivery(bucket.id, "small-2"),
        delivery(bucket.id, body("big")),
      ]),
    ).rejects.toBeInstanceOf(StorageFullError);

    const bodies = async () =>
      (await store.listDeliveries(bucket.id, null, 1000)).map((d) => new TextDecoder().decode(d.body));
    // Nothing of the failed batch, and every stored body whole.
    expect(await bodies()).toEqual(Array.from({ length: fitted }, (_, i) => body(`single-${i}`)));
    expect(await store.pruneDeliveries({ receivedBefore: null, keepNewest: 1 }, 1000)).toBe(fitted - 1);
    const [after] = await store.appendDeliveries([delivery(bucket.id, body("after"))]);
    expect(after?.duplicate).toBe(false);
    expect(await bodies()).toEqual([body(`single-${fitted - 1}`), body("after")]);
    await store.close();
    const check = new Database(path, { readonly: true });
    expect(
      check.query<{ integrity_check: string }, []>("PRAGMA integrity_check").get()?.integrity_check,
    ).toBe("ok");
    check.close();
  });
});

describe("group commit", () => {
  test("concurrent appends share transactions, each stored once, relayed in id order before their answer", async () => {
    await withStore(async (store) => {
      const bucket = await store.createBucket("a");
      const relayed: string[] = [];
      const writer = createDeliveryWriter<number>({
        store,
        log: () => {},
        onCommitted: ({ id }) => relayed.push(id),
      });
      const count = 3000;
      const results = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const result = await writer.append(delivery(bucket.id, String(i)), i);
          // Answered only after it was relayed, which happens after its commit.
          expect(relayed).toContain(result.id as string);
          return result;
        }),
      );
      expect(new Set(results.map((r) => r.id)).size).toBe(count);
      expect(relayed.map(Number)).toEqual([...relayed.map(Number)].sort((x, y) => x - y));
      const stats = writer.stats();
      expect(stats.committed).toBe(count);
      expect(stats.batches).toBeLessThan(count / 10);
      expect(stats.largestBatch).toBeLessThanOrEqual(1000);
      expect(await store.listDeliveries(bucket.id, null, count + 1)).toHaveLength(count);
    });
  });

  test("past the queue limit an append is refused with WriterBusyError instead of growing memory", async () => {
    await withStore(async (store) => {
      const bucket = await store.createBucket("a");
      const writer = createDeliveryWriter<null>({
        store,
        log: () => {},
        onCommitted: () => {},
        limits: { queuedDeliveries: 5 },
      });
      const accepted = Array.from({ length: 5 }, () => writer.append(delivery(bucket.id, "x"), null));
      await expect(writer.append(delivery(bucket.id, "y"), null)).rejects.toBeInstanceOf(WriterBusyError);
      await Promise.all(accepted);
      await writer.idle();
      await expect(writer.append(delivery(bucket.id, "z"), null)).resolves.toMatchObject({
        duplicate: false,
      });
    });
  });

  test("a failed transaction rejects its senders and relays nothing", async () => {
    await withStore(async (store) => {
      const failing = { ...store, appendDeliveries: () => Promise.reject(new Error("disk full")) };
      const relayed: string[] = [];
      const writer = createDeliveryWriter<null>({
        store: failing,
        log: () => {},
        onCommitted: ({ id }) => relayed.push(id),
      });
      await expect(writer.append(delivery("b", "x"), null)).rejects.toThrow("disk full");
      expect(relayed).toEqual([]);
    });
  });
});
