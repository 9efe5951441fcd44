/**
 * Delivery bodies in the Redis store live in keys of their own beside the stream: what is stored where, what
 * retention and duplicates leave behind, a staged body lost before its append, a store written when bodies
 * were inside the entries, and pages and the follow read while retention deletes under them. On a real
 * redis-server.
 */
import { describe, expect, test } from "bun:test";
import { connectRedis, type Redis, RedisUnavailableError } from "../../src/cluster/redis.ts";
import { createRedisDeliveries } from "../../src/cluster/relay-deliveries.ts";
import { redisKeys } from "../../src/cluster/relay-keys.ts";
import { APPEND_SCRIPT } from "../../src/cluster/relay-scripts.ts";
import { openRedisStore, type RedisRelayStore } from "../../src/cluster/relay-store.ts";
import { streamCursors } from "../../src/relay/cursor.ts";
import { suiteRedis } from "../helpers/cluster.ts";
import { newDelivery as delivery } from "../helpers/deliveries.ts";
import { redisAvailable } from "../helpers/redis.ts";

const text = (deliveries: ReadonlyArray<{ body: Uint8Array }>) =>
  deliveries.map((d) => new TextDecoder().decode(d.body));

const lines = (output: string) => output.split("\n").filter((line) => line !== "");

if (redisAvailable) {
  const redis = suiteRedis();

  /** Stores on connections of their own under one fresh prefix, as instances have; closed after the test. */
  const withStores = async (
    count: number,
    run: (keyPrefix: string, connection: Redis, ...stores: RedisRelayStore[]) => Promise<void>,
    keyPrefix = `test-${crypto.randomUUID()}:`,
  ) => {
    const connections = await Promise.all(
      Array.from({ length: count }, () => connectRedis({ url: redis.url, log: () => {} })),
    );
    const stores: RedisRelayStore[] = [];
    try {
      for (const connection of connections)
        stores.push(await openRedisStore(connection, { keyPrefix, log: () => {} }));
      await run(keyPrefix, connections[0] as Redis, ...stores);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      for (const connection of connections) connection.close();
    }
  };

  /**
   * Appends 600 deliveries to a new bucket of `store`, then runs `read` again and again while `pruner` (another
   * instance) deletes them, 5 at a time, until none is left. `read` gets the body each id was appended with
   * and answers how many reads it made; resolves with their sum.
   */
  const readWhilePruning = async (
    store: RedisRelayStore,
    pruner: RedisRelayStore,
    read: (bucketId: string, bodyOf: ReadonlyMap<string, string>) => Promise<number>,
  ) => {
    const bucket = await store.createBucket("a");
    const total = 600;
    const appended = await store.appendDeliveries(
      Array.from({ length: total }, (_, i) => delivery(bucket.id, `body-${i}`)),
    );
    const bodyOf = new Map(appended.map((r, i) => [r.id as string, `body-${i}`]));
    let pruning = true;
    const pruned = (async () => {
      for (let keep = total; keep > 0; keep -= 5) {
        await pruner.pruneDeliveries({ receivedBefore: null, keepNewest: keep }, 5);
        await Bun.sleep(0);
      }
      pruning = false;
    })();
    let reads = 0;
    while (pruning) reads += await read(bucket.id, bodyOf);
    await pruned;
    return reads;
  };

  describe("Redis store: bodies beside the stream", () => {
    test("no entry carries a body; each has a key retention deletes with its entry; nothing staged is left", async () => {
      await withStores(1, async (prefix, _, store) => {
        const a = await store.createBucket("a");
        const results = await store.appendDeliveries([
          { ...delivery(a.id, "first"), githubDelivery: "g-1", receivedAt: 1_000 },
          { ...delivery(a.id, "second"), githubDelivery: "g-2" },
          { ...delivery(a.id, "first again"), githubDelivery: "g-1" },
        ]);
        expect(results.map((r) => r.duplicate)).toEqual([false, false, true]);
        const [first, second] = results.map((r) => r.id as string);

        const fields = lines(await redis.cli("XRANGE", `${prefix}deliveries`, "-", "+"));
        expect(fields).not.toContain("d");
        expect(fields.join("\n")).not.toContain("first");
        expect(await redis.cli("GET", `${prefix}deliveries:body:${first}`)).toBe("first");
        expect(await redis.cli("TTL", `${prefix}deliveries:body:${first}`)).toBe("-1");
        expect(lines(await redis.cli("--scan", "--pattern", `${prefix}deliveries:staged:*`))).toEqual([]);

        expect(await store.pruneDeliveries({ receivedBefore: 2_000, keepNewest: null }, 10)).toBe(1);
        expect(await redis.cli("EXISTS", `${prefix}deliveries:body:${first}`)).toBe("0");
        expect(await redis.cli("EXISTS", `${prefix}deliveries:body:${second}`)).toBe("1");
        expect(text(await store.listDeliveries(a.id, null, 10))).toEqual(["second"]);
        expect(text([(await store.deliveryByGithubId(a.id, "g-2")) ?? { body: new Uint8Array() }])).toEqual([
          "second",
        ]);
      });
    });

    test("a body staged for an append but gone before its script fails the whole batch and writes nothing", async () => {
      await withStores(1, async (prefix, connection, store) => {
        const a = await store.createBucket("a");
        const keys = redisKeys(prefix);
        await connection.send("SET", [`${keys.stagedPrefix}present`, "Ym9keQ=="]);
        const fieldsOf = (token: string) => [
          a.id,
          "",
          a.inputs[0]?.id ?? "",
          "POST",
          "{}",
          "",
          token,
          4,
          "::1",
          1,
        ];
        const appending = connection.send("EVAL", [
          APPEND_SCRIPT.source,
          3,
          keys.deliveries,
          keys.lastId,
          keys.outputDue,
          ...[1024, keys.dedupPrefix, keys.outputsPrefix, keys.attemptsPrefix, 1000],
          ...[keys.stagedPrefix, keys.bodyPrefix],
          ...[...fieldsOf("present"), ""],
          ...[...fieldsOf("never-staged"), ""],
        ]);
        await expect(appending).rejects.toThrow(/BODYLOST/);
        expect(await redis.cli("XLEN", keys.deliveries)).toBe("0");
        expect(await redis.cli("EXISTS", keys.lastId)).toBe("0");
        expect(await redis.cli("EXISTS", `${keys.stagedPrefix}present`)).toBe("1");
      });
    });

    test("bodies lost between their SET and the append (Redis restarted) fail the append as Redis unavailable", async () => {
      await withStores(1, async (prefix, connection, store) => {
        const a = await store.createBucket("a");
        const keys = redisKeys(prefix);
        // A connection on which Redis loses every staged body just before the append script runs.
        const forgetful: Redis = {
          ...connection,
          async send(command, args) {
            if (command === "EVAL") {
              const staged = (await connection.send("KEYS", [`${keys.stagedPrefix}*`])) as string[];
              if (staged.length > 0) await connection.send("DEL", staged);
            }
            return await connection.send(command, args);
          },
        };
        const deliveries = createRedisDeliveries(forgetful, keys);
        try {
          await expect(deliveries.appendDeliveries([delivery(a.id, "lost")])).rejects.toBeInstanceOf(
            RedisUnavailableError,
          );
          expect(await redis.cli("XLEN", keys.deliveries)).toBe("0");
          await store.appendDeliveries([delivery(a.id, "after")]);
          expect(text(await store.listDeliveries(a.id, null, 10))).toEqual(["after"]);
        } finally {
          await deliveries.close();
        }
      });
    });

    test("a store written with bodies inside its entries is moved to the new layout and read as it is", async () => {
      const keyPrefix = `test-${crypto.randomUUID()}:`;
      let bucketId = "";
      await withStores(
        1,
        async (_, __, store) => {
          bucketId = (await store.createBucket("old")).id;
        },
        keyPrefix,
      );
      // What an earlier version wrote: layout 1, the body base64 in the entry's `d` field.
      await redis.cli("SET", `${keyPrefix}layout`, "1");
      const oldFields = ["b", bucketId, "i", "in", "m", "POST", "h", "{}", "q", "", "d"];
      await redis.cli(
        "XADD",
        `${keyPrefix}deliveries`,
        "5-0",
        ...oldFields,
        btoa("inline"),
        "s",
        "::1",
        "t",
        "1",
      );
      await redis.cli("SET", `${keyPrefix}deliveries:last-id`, "5-0");

      await withStores(
        2,
        async (_, __, store, other) => {
          expect(await redis.cli("GET", `${keyPrefix}layout`)).toBe("2");
          await other.appendDeliveries([delivery(bucketId, "new")]);
          expect(text(await store.listDeliveries(bucketId, null, 10))).toEqual(["inline", "new"]);
          expect(text(await store.waitForDeliveries(0, 100, 10))).toEqual(["inline", "new"]);
          const page = await store.readDeliveries({
            bucketIds: [bucketId],
            afterPosition: 0,
            throughPosition: Number.MAX_SAFE_INTEGER,
            maxRows: 10,
            maxBytes: 1,
          });
          expect(text(page.deliveries)).toEqual(["inline"]);
          expect(await store.pruneDeliveries({ receivedBefore: null, keepNewest: 1 }, 10)).toBe(1);
          expect(text(await store.listDeliveries(bucketId, null, 10))).toEqual(["new"]);
        },
        keyPrefix,
      );
    });

    test("pages read while another instance's retention deletes under them hold the bodies they were appended with", async () => {
      await withStores(2, async (_, __, reader, pruner) => {
        const pages = await readWhilePruning(reader, pruner, async (bucketId, bodyOf) => {
          const page = await reader.readDeliveries({
            bucketIds: [bucketId],
            afterPosition: 0,
            throughPosition: Number.MAX_SAFE_INTEGER,
            maxRows: 40,
            maxBytes: 1 << 20,
          });
          let last = page.prunedThrough;
          for (const d of page.deliveries) {
            expect(text([d])).toEqual([bodyOf.get(d.id) as string]);
            expect(streamCursors.positionOf(d.id)).toBeGreaterThan(last);
            last = streamCursors.positionOf(d.id);
          }
          return 1;
        });
        expect(pages).toBeGreaterThan(10);
      });
    });

    test("a follower reading while another instance's retention deletes under it gets right bodies, in order", async () => {
      await withStores(2, async (_, __, follower, pruner) => {
        const waits = await readWhilePruning(follower, pruner, async (_, bodyOf) => {
          let position = 0;
          for (let made = 1; ; made++) {
            const deliveries = await follower.waitForDeliveries(position, 0, 7);
            if (deliveries.length === 0) return made;
            for (const d of deliveries) {
              expect(text([d])).toEqual([bodyOf.get(d.id) as string]);
              expect(streamCursors.positionOf(d.id)).toBeGreaterThan(position);
              position = streamCursors.positionOf(d.id);
            }
          }
        });
        expect(waits).toBeGreaterThan(10);
      });
    });
  });
}
