/**
 * What is specific to the Redis store, on a real redis-server: following the shared stream, Redis going
 * away and coming back, the per-millisecond sequence cap, a full Redis, the key layout, and the CLI working
 * on the shared store. The behaviour every store shares is in store-contract.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectRedis, RedisUnavailableError } from "../../src/cluster/redis.ts";
import { openRedisStore, type RedisRelayStore } from "../../src/cluster/relay-store.ts";
import { STREAM_SEQ_LIMIT, streamCursors } from "../../src/relay/cursor.ts";
import { StorageFullError } from "../../src/relay/store.ts";
import { generateToken, secretMatches } from "../../src/relay/tokens.ts";
import { suiteRedis } from "../helpers/cluster.ts";
import { newDelivery as delivery } from "../helpers/deliveries.ts";
import { redisAvailable, startRedis, type TestRedis } from "../helpers/redis.ts";
import { runCli } from "../helpers/relay.ts";

const text = (deliveries: ReadonlyArray<{ body: Uint8Array }>) =>
  deliveries.map((d) => new TextDecoder().decode(d.body));

const positionOf = (id: string | null) => {
  if (id === null) throw new Error("expected a stored delivery");
  return streamCursors.positionOf(id);
};

interface Instance {
  store: RedisRelayStore;
  close(): Promise<void>;
}

/** A store on a connection of its own, as one server instance has. */
async function openInstance(redis: TestRedis, keyPrefix: string): Promise<Instance> {
  const connection = await connectRedis({ url: redis.url, log: () => {}, probeIntervalMs: 50 });
  const store = await openRedisStore(connection, { keyPrefix, log: () => {} });
  return {
    store,
    async close() {
      await store.close();
      connection.close();
    },
  };
}

/** Retries `attempt` while it rejects with RedisUnavailableError (a reconnecting client), up to a deadline. */
async function onceReachable<T>(attempt: () => Promise<T>, deadlineMs = 10_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof RedisUnavailableError) || Date.now() - started > deadlineMs) throw error;
      await Bun.sleep(20);
    }
  }
}

if (redisAvailable) {
  const redis = suiteRedis();

  /** Instances sharing one fresh key prefix, closed after the test. */
  const withInstances = async (count: number, run: (...instances: RelayInstances) => Promise<void>) => {
    const keyPrefix = `test-${crypto.randomUUID()}:`;
    const instances = await Promise.all(Array.from({ length: count }, () => openInstance(redis, keyPrefix)));
    try {
      await run(...instances.map((i) => i.store));
    } finally {
      await Promise.all(instances.map((i) => i.close()));
    }
  };
  type RelayInstances = RedisRelayStore[];

  describe("following the shared delivery stream", () => {
    test("a wait blocks until another instance appends, then returns that delivery with its names", async () => {
      await withInstances(2, async (follower, writer) => {
        const bucket = await writer.createBucket("live");
        const inputId = bucket.inputs[0]?.id ?? "";
        const { lastPosition } = await follower.deliveryPosition();
        const started = Date.now();
        const waiting = follower.waitForDeliveries(lastPosition, 10_000, 10);
        await Bun.sleep(100);
        const [appended] = await writer.appendDeliveries([{ ...delivery(bucket.id, "hello"), inputId }]);
        const received = await waiting;
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(received).toHaveLength(1);
        expect(received[0]).toMatchObject({
          id: appended?.id ?? "",
          bucketName: "live",
          inputName: "Default public endpoint",
        });
        expect(text(received)).toEqual(["hello"]);
      });
    });

    test("a wait returns exactly what follows the position, in order, at most maxRows, or nothing in time", async () => {
      await withInstances(1, async (store) => {
        const a = await store.createBucket("a");
        const results = await store.appendDeliveries(
          Array.from({ length: 10 }, (_, i) => delivery(a.id, String(i))),
        );
        const positions = results.map((r) => positionOf(r.id));
        expect(text(await store.waitForDeliveries(0, 100, 100))).toEqual(
          Array.from({ length: 10 }, (_, i) => String(i)),
        );
        expect(text(await store.waitForDeliveries(positions[3] as number, 100, 3))).toEqual(["4", "5", "6"]);
        expect(text(await store.waitForDeliveries(positions[8] as number, 100, 3))).toEqual(["9"]);
        const started = Date.now();
        expect(await store.waitForDeliveries(positions[9] as number, 150, 3)).toEqual([]);
        expect(Date.now() - started).toBeGreaterThanOrEqual(100);
        expect(await store.waitForDeliveries(positions[9] as number, 0, 3)).toEqual([]);
      });
    });

    test("deliveries of a deleted bucket are skipped, however many come before the next live one", async () => {
      await withInstances(1, async (store) => {
        const gone = await store.createBucket("gone");
        const kept = await store.createBucket("kept");
        await store.appendDeliveries(Array.from({ length: 50 }, (_, i) => delivery(gone.id, `gone-${i}`)));
        await store.appendDeliveries([delivery(kept.id, "kept")]);
        await store.deleteBucket(gone.id);
        const received = await store.waitForDeliveries(0, 1_000, 10);
        expect(text(received)).toEqual(["kept"]);
        expect(received[0]?.bucketName).toBe("kept");
      });
    });

    test("with two instances appending at once, a follower gets every delivery once, in stream order", async () => {
      await withInstances(3, async (follower, one, two) => {
        const bucket = await one.createBucket("busy");
        const { lastPosition } = await follower.deliveryPosition();
        const perInstance = 1_500;
        const appendAll = async (store: RedisRelayStore, label: string) => {
          const ids: string[] = [];
          const calls: Promise<void>[] = [];
          for (let sent = 0; sent < perInstance; ) {
            const size = Math.min(1 + ((sent * 7) % 23), perInstance - sent);
            const batch = Array.from({ length: size }, (_, i) => delivery(bucket.id, `${label}-${sent + i}`));
            sent += size;
            calls.push(
              store.appendDeliveries(batch).then((results) => {
                for (const r of results) if (r.id !== null) ids.push(r.id);
              }),
            );
          }
          await Promise.all(calls);
          return ids;
        };
        const received: string[] = [];
        const follow = (async () => {
          let position = lastPosition;
          const deadline = Date.now() + 20_000;
          while (received.length < 2 * perInstance && Date.now() < deadline) {
            for (const d of await follower.waitForDeliveries(position, 500, 256)) {
              received.push(d.id);
              position = positionOf(d.id);
            }
          }
        })();
        const [fromOne, fromTwo] = await Promise.all([appendAll(one, "one"), appendAll(two, "two")]);
        await follow;
        const appended = [...(fromOne ?? []), ...(fromTwo ?? [])];
        expect(appended).toHaveLength(2 * perInstance);
        const inOrder = [...appended].sort((x, y) => positionOf(x) - positionOf(y));
        expect(received).toEqual(inOrder);
        // Each instance's own appends kept their call order.
        for (const ids of [fromOne ?? [], fromTwo ?? []])
          expect(ids).toEqual([...ids].sort((x, y) => positionOf(x) - positionOf(y)));
      });
    }, 30_000);
  });

  describe("one bucket in a long stream", () => {
    test("listing and recent deliveries find a quiet bucket behind more entries than one scan covers", async () => {
      await withInstances(1, async (store) => {
        const busy = await store.createBucket("busy");
        const quiet = await store.createBucket("quiet");
        await store.appendDeliveries([delivery(quiet.id, "first")]);
        await store.appendDeliveries(Array.from({ length: 5000 }, (_, i) => delivery(busy.id, `busy-${i}`)));
        await store.appendDeliveries([delivery(quiet.id, "second")]);
        expect(text(await store.listDeliveries(quiet.id, null, 10))).toEqual(["first", "second"]);
        expect(text(await store.recentDeliveries(quiet.id, 10))).toEqual(["second", "first"]);
        const listed = await store.listDeliveries(busy.id, null, 4500);
        expect(listed).toHaveLength(4500);
        expect(text(listed.slice(-1))).toEqual(["busy-4499"]);
        const after = await store.listDeliveries(busy.id, listed.at(-1)?.id ?? null, 1000);
        expect(text(after)).toEqual(Array.from({ length: 500 }, (_, i) => `busy-${4500 + i}`));
        expect(text(await store.recentDeliveries(busy.id, 3))).toEqual([
          "busy-4999",
          "busy-4998",
          "busy-4997",
        ]);
      });
    });

    test("a wait for deliveries returns a page bounded in bytes, not only in rows", async () => {
      await withInstances(1, async (store) => {
        const big = await store.createBucket("big");
        const body = "x".repeat(400 * 1024);
        await store.appendDeliveries(Array.from({ length: 10 }, () => delivery(big.id, body)));
        const page = await store.waitForDeliveries(0, 1_000, 256);
        // 1 MiB per page: three 400 KiB bodies reach it; the rest comes with the next waits.
        expect(page.length).toBe(3);
      });
    });
  });

  describe("stream ids", () => {
    test("a batch larger than the sequence limit gets strictly increasing ids, each seq under the limit", async () => {
      await withInstances(1, async (store) => {
        const a = await store.createBucket("a");
        const count = 3 * STREAM_SEQ_LIMIT + 10;
        const results = await store.appendDeliveries(Array.from({ length: count }, () => delivery(a.id, "")));
        const ids = results.map((r) => r.id ?? "");
        const parts = ids.map((id) => id.split("-").map(Number) as [number, number]);
        for (const [, seq] of parts) expect(seq).toBeLessThan(STREAM_SEQ_LIMIT);
        const positions = ids.map(positionOf);
        for (let i = 1; i < positions.length; i++)
          expect(positions[i] as number).toBeGreaterThan(positions[i - 1] as number);
        expect(new Set(parts.map(([ms]) => ms)).size).toBeGreaterThanOrEqual(4);
        // Each id is also a cursor that reads back as its own position.
        expect(streamCursors.parse(ids.at(-1) ?? "")).toEqual({
          kind: "valid",
          position: positions.at(-1) as number,
        });
        expect((await store.deliveryPosition()).lastPosition).toBe(positions.at(-1) as number);
      });
    });
  });

  describe("Redis away and back", () => {
    test("while Redis is stopped calls reject with RedisUnavailableError; once back, the same store works", async () => {
      await using own = await startRedis();
      const instance = await openInstance(own, "hookstream:");
      const { store } = instance;
      try {
        const bucket = await store.createBucket("a");
        const [before] = await store.appendDeliveries([delivery(bucket.id, "before")]);
        const blocked = store.waitForDeliveries(positionOf(before?.id ?? null), 30_000, 10);
        const blockedOutcome = blocked.then(
          () => "resolved",
          (error: unknown) => error,
        );

        await own.stop();
        expect(await blockedOutcome).toBeInstanceOf(RedisUnavailableError);
        await expect(store.appendDeliveries([delivery(bucket.id, "while away")])).rejects.toBeInstanceOf(
          RedisUnavailableError,
        );
        await expect(store.waitForDeliveries(0, 100, 10)).rejects.toBeInstanceOf(RedisUnavailableError);
        await expect(store.findBucket("a")).rejects.toBeInstanceOf(RedisUnavailableError);

        await own.start();
        const [after] = await onceReachable(() => store.appendDeliveries([delivery(bucket.id, "after")]));
        expect(positionOf(after?.id ?? null)).toBeGreaterThan(positionOf(before?.id ?? null));
        const resumed = await onceReachable(() =>
          store.waitForDeliveries(positionOf(before?.id ?? null), 1_000, 10),
        );
        expect(text(resumed)).toEqual(["after"]);
        expect((await store.findBucket("a"))?.id).toBe(bucket.id);
      } finally {
        await instance.close();
      }
    }, 30_000);
  });

  describe("a follower that starts while Redis is away", () => {
    test("is told so within seconds, gets its deliveries once Redis is back, and closes without waiting", async () => {
      await using own = await startRedis();
      const instance = await openInstance(own, "hookstream:");
      const writer = await openInstance(own, "hookstream:");
      try {
        const bucket = await writer.store.createBucket("a");
        await own.stop();
        // Its blocking connection is opened on first use, while nothing answers.
        const started = Date.now();
        await expect(instance.store.waitForDeliveries(0, 100, 10)).rejects.toBeInstanceOf(
          RedisUnavailableError,
        );
        expect(Date.now() - started).toBeLessThan(5_000);
        await own.start();
        await onceReachable(() => writer.store.appendDeliveries([delivery(bucket.id, "back")]));
        const received = await onceReachable(() => instance.store.waitForDeliveries(0, 1_000, 10));
        expect(text(received)).toEqual(["back"]);
      } finally {
        await instance.close();
        await writer.close();
      }
    }, 30_000);

    test("a store closed while its connection is still opening does not wait for it", async () => {
      await using own = await startRedis();
      const instance = await openInstance(own, "hookstream:");
      await own.stop();
      const waiting = instance.store.waitForDeliveries(0, 100, 10);
      const started = Date.now();
      await instance.close();
      await expect(waiting).rejects.toBeInstanceOf(RedisUnavailableError);
      expect(Date.now() - started).toBeLessThan(1_000);
      await expect(instance.store.waitForDeliveries(0, 100, 10)).rejects.toBeInstanceOf(
        RedisUnavailableError,
      );
    }, 10_000);
  });

  describe("a full Redis", () => {
    test("a batch is refused whole with StorageFullError; retention and revocation still work; then appends do", async () => {
      await withInstances(1, async (store) => {
        const a = await store.createBucket("a");
        const token = generateToken();
        await store.createToken({ ...token, description: "", admin: false, bucketIds: null });
        await store.appendDeliveries([{ ...delivery(a.id, "old"), receivedAt: 1_000 }]);
        await redis.cli("CONFIG", "SET", "maxmemory", "1");
        try {
          await expect(
            store.appendDeliveries([delivery(a.id, "1"), delivery(a.id, "2"), delivery(a.id, "3")]),
          ).rejects.toBeInstanceOf(StorageFullError);
          await expect(store.createBucket("b")).rejects.toBeInstanceOf(StorageFullError);
          expect(await store.revokeToken(token.key)).toBe(true);
          expect(await store.pruneDeliveries({ receivedBefore: 2_000, keepNewest: null }, 10)).toBe(1);
        } finally {
          await redis.cli("CONFIG", "SET", "maxmemory", "0");
        }
        expect(await store.listDeliveries(a.id, null, 10)).toEqual([]);
        await store.appendDeliveries([delivery(a.id, "after")]);
        expect(text(await store.listDeliveries(a.id, null, 10))).toEqual(["after"]);
      });
    });
  });

  describe("key layout", () => {
    test("every key lives under the prefix, and a token's secret is stored only as its hash", async () => {
      await using own = await startRedis();
      const instance = await openInstance(own, "tenant-a:");
      try {
        const bucket = await instance.store.createBucket("a");
        await instance.store.appendDeliveries([{ ...delivery(bucket.id, "x"), githubDelivery: "guid" }]);
        const secret = "a-very-secret-value";
        const hash = new Bun.CryptoHasher("sha256").update(secret).digest();
        await instance.store.createToken({
          key: "key-1",
          secretHash: hash,
          description: "",
          admin: false,
          bucketIds: null,
        });
        const keys = (await own.cli("--scan")).split("\n").filter((k) => k !== "");
        expect(keys.length).toBeGreaterThan(5);
        for (const key of keys) expect(key.startsWith("tenant-a:")).toBe(true);
        const tokens = await own.cli("HGETALL", "tenant-a:tokens");
        expect(tokens).not.toContain(secret);
        expect(tokens).toContain(Buffer.from(hash).toString("hex"));
      } finally {
        await instance.close();
      }
    });

    test("a store refuses keys written in another layout under its prefix", async () => {
      const keyPrefix = `test-${crypto.randomUUID()}:`;
      await redis.cli("SET", `${keyPrefix}layout`, "99");
      const connection = await connectRedis({ url: redis.url, log: () => {} });
      try {
        await expect(openRedisStore(connection, { keyPrefix, log: () => {} })).rejects.toThrow(/layout 99/);
      } finally {
        connection.close();
      }
    });
  });

  describe("the CLI with REDIS_URL", () => {
    test("buckets and tokens it creates exist for every instance, and no SQLite database is made", async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "hookstream-cli-redis-"));
      const keyPrefix = `cli-${crypto.randomUUID()}:`;
      const env = { DATA_DIR: dataDir, REDIS_URL: redis.url, REDIS_KEY_PREFIX: keyPrefix, PORT: "5999" };
      const instance = await openInstance(redis, keyPrefix);
      try {
        const created = await runCli(["bucket", "create", "shared", "--json"], env);
        expect(created.code).toBe(0);
        const bucket = JSON.parse(created.stdout) as { id: string; name: string; inputs: { id: string }[] };
        const seen = await instance.store.findBucket("shared");
        expect(seen?.id).toBe(bucket.id);
        expect(seen?.inputs.map((i) => i.id)).toEqual(bucket.inputs.map((i) => i.id));
        expect((await runCli(["bucket", "create", "shared"], env)).code).toBe(1);

        const issued = await runCli(["token", "create", "--buckets", "shared", "--json"], env);
        expect(issued.code).toBe(0);
        const credentials = JSON.parse(issued.stdout) as { key: string; secret: string };
        const found = await instance.store.findToken(credentials.key);
        expect(found?.token.bucketIds).toEqual([bucket.id]);
        expect(secretMatches(credentials.secret, found?.secretHash ?? new Uint8Array())).toBe(true);

        const inputId = bucket.inputs[0]?.id ?? "";
        const version = await instance.store.externalChanges();
        expect((await runCli(["input", "set-secret", inputId, "from-cli"], env)).code).toBe(0);
        expect(await instance.store.externalChanges()).not.toBe(version);
        expect((await instance.store.resolveInput(inputId))?.githubSecret).toBe("from-cli");

        expect((await runCli(["token", "revoke", credentials.key], env)).code).toBe(0);
        expect((await instance.store.findToken(credentials.key))?.token.revokedAt).toBeNumber();
        const listed = await runCli(["bucket", "list", "--json"], env);
        expect((JSON.parse(listed.stdout) as { name: string }[]).map((b) => b.name)).toEqual(["shared"]);
        expect((await runCli(["bucket", "delete", "shared"], env)).code).toBe(0);
        expect(await instance.store.findBucket(bucket.id)).toBeNull();
        expect(existsSync(join(dataDir, "hookstream.db"))).toBe(false);
      } finally {
        await instance.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }, 30_000);

    test("an unreachable Redis fails the command with exit code 1 and says so", async () => {
      await using own = await startRedis();
      const url = own.url;
      await own.stop();
      const dataDir = mkdtempSync(join(tmpdir(), "hookstream-cli-redis-"));
      try {
        const result = await runCli(["bucket", "list"], { DATA_DIR: dataDir, REDIS_URL: url });
        expect(result.code).toBe(1);
        expect(result.stderr).toContain("Redis is unavailable");
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }, 20_000);
  });
}
