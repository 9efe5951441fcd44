/**
 * The SQLite store and the group-commit writer on a real database file.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MIGRATIONS, migrate, schemaVersion } from "../../src/relay/migrations.ts";
import { openSqliteStore } from "../../src/relay/sqlite-store.ts";
import type { NewDelivery, RelayStore } from "../../src/relay/store.ts";
import { generateToken } from "../../src/relay/tokens.ts";
import { createDeliveryWriter, WriterBusyError } from "../../src/relay/writer.ts";

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

const delivery = (bucketId: string, body: string, githubDelivery: string | null = null): NewDelivery => ({
  bucketId,
  inputId: "input",
  githubDelivery,
  method: "POST",
  headers: { "Content-Type": ["text/plain"] },
  query: "",
  body: new TextEncoder().encode(body),
  sourceAddress: "127.0.0.1",
  receivedAt: Date.now(),
});

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

describe("store", () => {
  test("a bucket comes with its default input; names are unique; ids and names both find it", async () => {
    await withStore(async (store) => {
      const bucket = await store.createBucket("alpha");
      expect(bucket.inputs).toHaveLength(1);
      expect(bucket.inputs[0]?.name).toBe("Default public endpoint");
      expect(bucket.inputs[0]?.response.status).toBe(200);
      await expect(store.createBucket("alpha")).rejects.toThrow(/already exists/);
      expect((await store.findBucket(bucket.id))?.name).toBe("alpha");
      expect((await store.findBucket("alpha"))?.id).toBe(bucket.id);
    });
  });

  test("deleting a bucket removes its inputs, deliveries and token grants", async () => {
    await withStore(async (store) => {
      const bucket = await store.createBucket("alpha");
      const { key, secretHash } = generateToken();
      await store.createToken({ key, secretHash, description: "", admin: false, bucketIds: [bucket.id] });
      await store.appendDeliveries([delivery(bucket.id, "x")]);
      expect(await store.deleteBucket(bucket.id)).toBe(true);
      expect(await store.resolveInput(bucket.inputs[0]?.id ?? "")).toBeNull();
      expect(await store.listDeliveries(bucket.id, null, 10)).toEqual([]);
      // The token keeps its restriction (to nothing); it does not turn into an all-buckets token.
      expect((await store.findToken(key))?.token.bucketIds).toEqual([]);
    });
  });

  test("delivery ids increase in store order, never reused after deletion, and work as a cursor", async () => {
    await withStore(async (store) => {
      const a = await store.createBucket("a");
      const b = await store.createBucket("b");
      const first = await store.appendDeliveries([
        delivery(a.id, "1"),
        delivery(b.id, "2"),
        delivery(a.id, "3"),
      ]);
      const ids = first.map((r) => Number(r.id));
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      await store.deleteBucket(b.id);
      const [next] = await store.appendDeliveries([delivery(a.id, "4")]);
      expect(Number(next?.id)).toBeGreaterThan(Math.max(...ids));
      const afterFirst = await store.listDeliveries(a.id, first[0]?.id ?? null, 10);
      expect(afterFirst.map((d) => new TextDecoder().decode(d.body))).toEqual(["3", "4"]);
    });
  });

  test("retention deletes deliveries received before the cut-off, at most a batch per call", async () => {
    await withStore(async (store) => {
      const bucket = await store.createBucket("a");
      const old = (body: string) => ({ ...delivery(bucket.id, body), receivedAt: 1_000 });
      await store.appendDeliveries([old("1"), old("2"), old("3"), delivery(bucket.id, "new")]);
      expect(await store.pruneDeliveries(2_000, 2)).toBe(2);
      expect(await store.pruneDeliveries(2_000, 2)).toBe(1);
      expect(await store.pruneDeliveries(2_000, 2)).toBe(0);
      const left = await store.listDeliveries(bucket.id, null, 10);
      expect(left.map((d) => new TextDecoder().decode(d.body))).toEqual(["new"]);
    });
  });

  test("the same X-GitHub-Delivery is stored once per bucket, also within one batch", async () => {
    await withStore(async (store) => {
      const a = await store.createBucket("a");
      const b = await store.createBucket("b");
      const results = await store.appendDeliveries([
        delivery(a.id, "1", "guid"),
        delivery(a.id, "2", "guid"),
        delivery(b.id, "3", "guid"),
        delivery(a.id, "4", null),
        delivery(a.id, "5", null),
      ]);
      expect(results.map((r) => r.duplicate)).toEqual([false, true, false, false, false]);
    });
  });

  test("revoked tokens are reported inactive; listings never hold secrets", async () => {
    await withStore(async (store) => {
      const one = generateToken();
      const two = generateToken();
      const t1 = await store.createToken({ ...one, description: "", admin: true, bucketIds: null });
      const t2 = await store.createToken({ ...two, description: "", admin: false, bucketIds: null });
      expect(await store.countAdminTokens()).toBe(1);
      expect(await store.revokeToken(one.key)).toBe(true);
      expect(await store.revokeToken(one.key)).toBe(false);
      expect(await store.inactiveTokens([t1.id, t2.id, 999])).toEqual([t1.id, 999]);
      expect(await store.countAdminTokens()).toBe(0);
      expect(JSON.stringify(await store.listTokens())).not.toContain(one.secret);
    });
  });

  test("another connection's commits are noticed by externalChanges and reach cached input routes", async () => {
    await withStore(async (store, path) => {
      const bucket = await store.createBucket("a");
      const inputId = bucket.inputs[0]?.id ?? "";
      expect((await store.resolveInput(inputId))?.githubSecret).toBeNull();
      const version = await store.externalChanges();
      const cli = openSqliteStore(path);
      await cli.updateInput(inputId, { githubSecret: "s3cret" });
      await cli.close();
      expect(await store.externalChanges()).not.toBe(version);
      expect((await store.resolveInput(inputId))?.githubSecret).toBe("s3cret");
    });
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
