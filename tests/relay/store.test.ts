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
import { type NewDelivery, type RelayStore, StorageFullError } from "../../src/relay/store.ts";
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
      const byAge = { receivedBefore: 2_000, keepNewest: null };
      expect(await store.pruneDeliveries(byAge, 2)).toBe(2);
      expect(await store.pruneDeliveries(byAge, 2)).toBe(1);
      expect(await store.pruneDeliveries(byAge, 2)).toBe(0);
      const left = await store.listDeliveries(bucket.id, null, 10);
      expect(left.map((d) => new TextDecoder().decode(d.body))).toEqual(["new"]);
    });
  });

  test("retention by count keeps the newest deliveries over all buckets, deleting the oldest first", async () => {
    await withStore(async (store) => {
      const a = await store.createBucket("a");
      const b = await store.createBucket("b");
      await store.appendDeliveries(
        Array.from({ length: 10 }, (_, i) => delivery(i % 2 ? b.id : a.id, String(i))),
      );
      const byCount = { receivedBefore: null, keepNewest: 3 };
      expect(await store.pruneDeliveries(byCount, 4)).toBe(4);
      expect(await store.pruneDeliveries(byCount, 4)).toBe(3);
      expect(await store.pruneDeliveries(byCount, 4)).toBe(0);
      const left = [
        ...(await store.listDeliveries(a.id, null, 10)),
        ...(await store.listDeliveries(b.id, null, 10)),
      ].map((d) => new TextDecoder().decode(d.body));
      expect(left.sort()).toEqual(["7", "8", "9"]);
      expect(await store.pruneDeliveries({ receivedBefore: null, keepNewest: null }, 10)).toBe(0);
    });
  });

  test("the retention floor says, per bucket, up to which id retention deleted its deliveries", async () => {
    await withStore(async (store) => {
      const busy = await store.createBucket("busy");
      const quiet = await store.createBucket("quiet");
      const [first] = await store.appendDeliveries([delivery(quiet.id, "q")]);
      const ids = (
        await store.appendDeliveries(Array.from({ length: 6 }, (_, i) => delivery(busy.id, String(i))))
      ).map((r) => Number(r.id));
      // Keep 3: the quiet bucket's one delivery and the busy bucket's first three go.
      expect(await store.pruneDeliveries({ receivedBefore: null, keepNewest: 3 }, 100)).toBe(4);
      const read = (bucketIds: string[] | null) =>
        store.readDeliveries({
          bucketIds,
          afterPosition: 0,
          throughPosition: 1000,
          maxRows: 100,
          maxBytes: 1 << 20,
        });
      expect((await read([busy.id])).prunedThrough).toBe(ids[2] as number);
      expect((await read([quiet.id])).prunedThrough).toBe(Number(first?.id));
      expect((await read([busy.id, quiet.id])).prunedThrough).toBe(ids[2] as number);
      expect((await read(null)).prunedThrough).toBe(ids[2] as number);
      // A bucket retention never touched has floor 0: a reader of it missed nothing.
      const fresh = await store.createBucket("fresh");
      expect((await read([fresh.id])).prunedThrough).toBe(0);
      // Deleting a bucket forgets its floor.
      await store.deleteBucket(quiet.id);
      expect((await read([quiet.id])).prunedThrough).toBe(0);
    });
  });

  test("a read pages through the chosen buckets in store order, with the names, within its bounds", async () => {
    await withStore(async (store) => {
      const a = await store.createBucket("a");
      const b = await store.createBucket("b");
      const c = await store.createBucket("c");
      const ids = (
        await store.appendDeliveries(
          Array.from({ length: 12 }, (_, i) => delivery([a, b, c][i % 3]?.id ?? "", String(i))),
        )
      ).map((r) => Number(r.id));
      const bodies = (page: { deliveries: Array<{ body: Uint8Array }> }) =>
        page.deliveries.map((d) => new TextDecoder().decode(d.body));
      const read = (
        bucketIds: string[] | null,
        afterPosition: number,
        throughPosition: number,
        maxRows = 100,
      ) => store.readDeliveries({ bucketIds, afterPosition, throughPosition, maxRows, maxBytes: 1 << 20 });
      const all = ids.at(-1) as number;
      expect(bodies(await read([a.id, c.id], 0, all))).toEqual(["0", "2", "3", "5", "6", "8", "9", "11"]);
      expect(bodies(await read([c.id, a.id], ids[2] as number, ids[8] as number))).toEqual([
        "3",
        "5",
        "6",
        "8",
      ]);
      expect(bodies(await read([a.id, b.id], 0, all, 3))).toEqual(["0", "1", "3"]);
      expect(bodies(await read(null, ids[9] as number, all))).toEqual(["10", "11"]);
      expect(bodies(await read([a.id], all, all + 100))).toEqual([]);
      const [first] = (await read([b.id], 0, all)).deliveries;
      // The test deliveries name an input that does not exist: its name reads as empty.
      expect(first).toMatchObject({ bucketName: "b", inputName: "", id: String(ids[1]) });
    });
  });

  test("a read stops after maxBytes of bodies, but always returns at least one delivery", async () => {
    await withStore(async (store) => {
      const a = await store.createBucket("a");
      await store.appendDeliveries(Array.from({ length: 5 }, () => delivery(a.id, "x".repeat(1000))));
      const read = (maxBytes: number) =>
        store.readDeliveries({
          bucketIds: [a.id],
          afterPosition: 0,
          throughPosition: 100,
          maxRows: 100,
          maxBytes,
        });
      expect((await read(10)).deliveries).toHaveLength(1);
      expect((await read(2500)).deliveries).toHaveLength(3);
    });
  });

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
