/**
 * The relay store contract: one suite, run against every implementation (SQLite, Redis). What is specific to
 * one backend (SQLite files and group commit, Redis streams and outages) lives in its own file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectRedis } from "../../src/cluster/redis.ts";
import { openRedisStore } from "../../src/cluster/relay-store.ts";
import { createRecentDeliveries, recentFirst } from "../../src/relay/recent-deliveries.ts";
import { openSqliteStore } from "../../src/relay/sqlite-store.ts";
import {
  type AppendResult,
  type DeliveryPage,
  type Input,
  NameTakenError,
  type NewDelivery,
  type OutputAttempt,
  OutputNameTakenError,
  type RelayStore,
  type StoredDelivery,
} from "../../src/relay/store.ts";
import { generateToken } from "../../src/relay/tokens.ts";
import { newDelivery as delivery } from "../helpers/deliveries.ts";
import { seededRandom } from "../helpers/random.ts";
import { redisAvailable, startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/ws.ts";

interface Opened {
  store: RelayStore;
  close(): Promise<void>;
}

interface Backend extends Opened {
  /** Another connection to the same data, as another process (the CLI, a second instance) has. */
  connect(): Promise<Opened>;
}

const text = (deliveries: ReadonlyArray<{ body: Uint8Array }>) =>
  deliveries.map((d) => new TextDecoder().decode(d.body));

const bodies = (page: DeliveryPage) => text(page.deliveries);

/** Positions of appended deliveries, through the store's own cursor codec. */
async function positionsOf(store: RelayStore, results: readonly AppendResult[]): Promise<number[]> {
  const { cursors } = await store.deliveryPosition();
  return results.map((r) => {
    if (r.id === null) throw new Error("expected a stored delivery");
    return cursors.positionOf(r.id);
  });
}

function contract(name: string, open: () => Promise<Backend>) {
  const withStore = async (run: (store: RelayStore, backend: Backend) => Promise<void>) => {
    const backend = await open();
    try {
      await run(backend.store, backend);
    } finally {
      await backend.close();
    }
  };

  describe(`${name} store: buckets and inputs`, () => {
    test("a bucket comes with its default input; names are unique; ids and names both find it", async () => {
      await withStore(async (store) => {
        const bucket = await store.createBucket("alpha", "the first");
        expect(bucket).toMatchObject({ name: "alpha", description: "the first" });
        expect(bucket.inputs).toHaveLength(1);
        expect(bucket.inputs[0]?.name).toBe("Default public endpoint");
        expect(bucket.inputs[0]?.response.status).toBe(200);
        await expect(store.createBucket("alpha")).rejects.toBeInstanceOf(NameTakenError);
        expect((await store.findBucket(bucket.id))?.name).toBe("alpha");
        expect((await store.findBucket("alpha"))?.id).toBe(bucket.id);
        expect(await store.findBucket("nope")).toBeNull();
        expect(await store.findBucket(bucket.id)).toEqual(bucket);
      });
    });

    test("buckets are listed by name, each with its inputs in creation order", async () => {
      await withStore(async (store) => {
        const b = await store.createBucket("b");
        const a = await store.createBucket("a");
        await Bun.sleep(2);
        const extra = await store.addInput(a.id, "second");
        expect(extra).toMatchObject({ bucketId: a.id, name: "second", hasSecret: false });
        expect(await store.addInput(crypto.randomUUID(), "orphan")).toBeNull();
        const listed = await store.listBuckets();
        expect(listed.map((bucket) => bucket.name)).toEqual(["a", "b"]);
        expect(listed[0]?.inputs.map((input) => input.name)).toEqual(["Default public endpoint", "second"]);
        expect(listed[1]).toEqual(b);
        expect((await store.findBucket("a"))?.inputs).toEqual(listed[0]?.inputs ?? []);
      });
    });

    test("an input's name, response and secret change; the secret is resolved but never listed", async () => {
      await withStore(async (store) => {
        const bucket = await store.createBucket("a");
        const inputId = bucket.inputs[0]?.id ?? "";
        const response = { status: 202, body: "queued", headers: { "X-Relay": "yes" } };
        const updated = await store.updateInput(inputId, {
          name: "github",
          response,
          githubSecret: "s3cret!",
        });
        expect(updated).toMatchObject({ id: inputId, name: "github", response, hasSecret: true });
        const route = await store.resolveInput(inputId);
        expect(route?.githubSecret).toBe("s3cret!");
        expect(route?.bucket).toMatchObject({ id: bucket.id, name: "a" });
        expect(route?.input).toEqual(updated ?? undefined);
        expect(JSON.stringify(await store.listBuckets())).not.toContain("s3cret!");
        expect(JSON.stringify(await store.findBucket(bucket.id))).not.toContain("s3cret!");
        // Undefined leaves a setting as it is; null removes the secret.
        expect(await store.updateInput(inputId, { name: "renamed" })).toMatchObject({
          response,
          hasSecret: true,
        });
        expect(await store.updateInput(inputId, { githubSecret: null })).toMatchObject({ hasSecret: false });
        expect((await store.resolveInput(inputId))?.githubSecret).toBeNull();
        expect(await store.updateInput(crypto.randomUUID(), { name: "x" })).toBeNull();
        expect(await store.resolveInput(crypto.randomUUID())).toBeNull();
      });
    });

    test("deleting a bucket removes its inputs, deliveries and token grants; its name is free again", async () => {
      await withStore(async (store) => {
        const bucket = await store.createBucket("alpha");
        const other = await store.createBucket("beta");
        const { key, secretHash } = generateToken();
        await store.createToken({
          key,
          secretHash,
          description: "",
          admin: false,
          bucketIds: [bucket.id, other.id],
        });
        await store.appendDeliveries([delivery(bucket.id, "x"), delivery(other.id, "y")]);
        const { lastPosition } = await store.deliveryPosition();
        expect(await store.deleteBucket(bucket.id)).toBe(true);
        expect(await store.deleteBucket(bucket.id)).toBe(false);
        expect(await store.findBucket(bucket.id)).toBeNull();
        expect(await store.findBucket("alpha")).toBeNull();
        expect(await store.resolveInput(bucket.inputs[0]?.id ?? "")).toBeNull();
        expect(await store.listDeliveries(bucket.id, null, 10)).toEqual([]);
        expect(await store.recentDeliveries(bucket.id, 10)).toEqual([]);
        const read = (bucketIds: string[] | null) =>
          store.readDeliveries({
            bucketIds,
            afterPosition: 0,
            throughPosition: lastPosition,
            maxRows: 10,
            maxBytes: 1 << 20,
          });
        expect(bodies(await read([bucket.id]))).toEqual([]);
        expect(bodies(await read(null))).toEqual(["y"]);
        // The token keeps its restriction to what is left; it never turns into an all-buckets token.
        expect((await store.findToken(key))?.token.bucketIds).toEqual([other.id]);
        expect((await store.listTokens())[0]?.bucketIds).toEqual([other.id]);
        await store.deleteBucket(other.id);
        expect((await store.findToken(key))?.token.bucketIds).toEqual([]);
        expect((await store.createBucket("alpha")).name).toBe("alpha");
      });
    });

    test("another connection's changes are noticed by externalChanges and reach cached input routes", async () => {
      await withStore(async (store, backend) => {
        const bucket = await store.createBucket("a");
        const inputId = bucket.inputs[0]?.id ?? "";
        expect((await store.resolveInput(inputId))?.githubSecret).toBeNull();
        const version = await store.externalChanges();
        expect(await store.externalChanges()).toBe(version);
        const other = await backend.connect();
        await other.store.updateInput(inputId, { githubSecret: "s3cret" });
        const changed = await store.externalChanges();
        expect(changed).not.toBe(version);
        expect((await store.resolveInput(inputId))?.githubSecret).toBe("s3cret");
        await other.store.deleteBucket(bucket.id);
        await other.close();
        expect(await store.externalChanges()).not.toBe(changed);
        expect(await store.resolveInput(inputId)).toBeNull();
      });
    });
  });

  describe(`${name} store: outputs`, () => {
    const hook = (name: string) => ({
      name,
      destination: `http://127.0.0.1:9/${name}`,
      deliveredBy: "hookstream" as const,
    });

    test("outputs belong to a bucket, are unique by name there, listed in creation order, deleted by id or name", async () => {
      await withStore(async (store) => {
        const a = await store.createBucket("a");
        const b = await store.createBucket("b");
        const first = await store.createOutput(a.id, hook("ci"));
        expect(first).toMatchObject({ bucketId: a.id, name: "ci", deliveredBy: "hookstream" });
        await Bun.sleep(2);
        const agent = await store.createOutput(a.id, {
          name: "laptop",
          destination: "http://localhost:3000/hook",
          deliveredBy: "agent",
        });
        await expect(store.createOutput(a.id, hook("ci"))).rejects.toBeInstanceOf(OutputNameTakenError);
        // Another bucket may use the same name.
        expect(await store.createOutput(b.id, hook("ci"))).toMatchObject({ bucketId: b.id });
        expect(await store.createOutput(crypto.randomUUID(), hook("x"))).toBeNull();
        expect((await store.findBucket(a.id))?.outputs).toEqual([first, agent].filter((o) => o !== null));
        expect((await store.listBuckets()).map((bucket) => bucket.outputs.map((o) => o.name))).toEqual([
          ["ci", "laptop"],
          ["ci"],
        ]);
        expect(await store.deleteOutput(a.id, "laptop")).toBe(true);
        expect(await store.deleteOutput(a.id, first?.id ?? "")).toBe(true);
        expect(await store.deleteOutput(a.id, "ci")).toBe(false);
        expect((await store.findBucket(a.id))?.outputs).toEqual([]);
        expect((await store.findBucket(b.id))?.outputs).toHaveLength(1);
      });
    });

    test("outputs made within one millisecond are listed in the order they were made", async () => {
      await withStore(async (store) => {
        const bucket = await store.createBucket("burst");
        const names = Array.from({ length: 12 }, (_, i) => `o${(i * 7) % 12}`);
        for (const name of names) await store.createOutput(bucket.id, hook(name));
        const outputs = (await store.findBucket(bucket.id))?.outputs ?? [];
        expect(outputs.map((o) => o.name)).toEqual(names);
      });
    });

    test("the next due attempt is known: none, then the delivery's, then its lease end, then its retry, then none", async () => {
      await withStore(async (store) => {
        const bucket = await store.createBucket("a");
        await store.createOutput(bucket.id, hook("ci"));
        expect(await store.nextOutputAttemptAt()).toBeNull();
        const before = Date.now();
        await store.appendDeliveries([delivery(bucket.id, "x")]);
        const due = await store.nextOutputAttemptAt();
        expect(due).toBeGreaterThanOrEqual(before);
        expect(due).toBeLessThanOrEqual(Date.now());
        const now = Date.now() + 1000;
        const [claimed] = await store.claimOutputAttempts(now, 60_000, 10);
        expect(await store.nextOutputAttemptAt()).toBe(now + 60_000);
        if (claimed === undefined) throw new Error("expected a claimed attempt");
        await store.recordOutputAttempt({ ...claimed.attempt, attempts: 1, nextAt: now + 5_000 });
        expect(await store.nextOutputAttemptAt()).toBe(now + 5_000);
        await store.recordOutputAttempt({
          ...claimed.attempt,
          attempts: 2,
          state: "delivered",
          nextAt: null,
        });
        expect(await store.nextOutputAttemptAt()).toBeNull();
      });
    });

    test("a delivery gets one pending attempt per output hookstream delivers, claimed under a lease until settled", async () => {
      await withStore(async (store) => {
        const bucket = await store.createBucket("a");
        const output = await store.createOutput(bucket.id, hook("ci"));
        await store.createOutput(bucket.id, { ...hook("agent"), deliveredBy: "agent" });
        const other = await store.createBucket("quiet");
        const [result] = await store.appendDeliveries([delivery(bucket.id, "x"), delivery(other.id, "y")]);
        const now = Date.now() + 1000;
        const claimed = await store.claimOutputAttempts(now, 60_000, 10);
        expect(claimed).toHaveLength(1);
        expect(claimed[0]?.attempt).toMatchObject({
          deliveryId: result?.id,
          outputId: output?.id,
          outputName: "ci",
          destination: "http://127.0.0.1:9/ci",
          state: "pending",
          attempts: 0,
        });
        expect(text([claimed[0]?.delivery ?? { body: new Uint8Array() }])).toEqual(["x"]);
        // Leased: nobody else gets it until the lease runs out, then it is due again (its holder died).
        expect(await store.claimOutputAttempts(now + 1000, 60_000, 10)).toEqual([]);
        const again = await store.claimOutputAttempts(now + 61_000, 60_000, 10);
        expect(again.map((c) => c.attempt.outputName)).toEqual(["ci"]);
        const attempt = again[0]?.attempt as OutputAttempt;
        await store.recordOutputAttempt({
          ...attempt,
          attempts: 1,
          state: "pending",
          nextAt: now + 70_000,
          status: 503,
          error: "HTTP 503",
          updatedAt: now,
        });
        expect(await store.claimOutputAttempts(now + 65_000, 1000, 10)).toEqual([]);
        const third = await store.claimOutputAttempts(now + 70_000, 1000, 10);
        expect(third[0]?.attempt).toMatchObject({ attempts: 1, status: 503, error: "HTTP 503" });
        await store.recordOutputAttempt({
          ...attempt,
          attempts: 2,
          state: "delivered",
          nextAt: null,
          status: 200,
          error: null,
          responseBody: "thanks",
          updatedAt: now,
        });
        expect(await store.claimOutputAttempts(now + 10_000_000, 1000, 10)).toEqual([]);
        expect(await store.outputAttempts([result?.id ?? ""])).toEqual([
          {
            ...attempt,
            attempts: 2,
            state: "delivered",
            nextAt: null,
            status: 200,
            error: null,
            responseBody: "thanks",
            updatedAt: now,
          },
        ]);
      });
    });

    test("attempts of a deleted output are cancelled, and those of deleted deliveries are dropped", async () => {
      await withStore(async (store) => {
        const bucket = await store.createBucket("a");
        await store.createOutput(bucket.id, hook("gone"));
        const [kept] = await store.appendDeliveries([delivery(bucket.id, "x")]);
        await store.deleteOutput(bucket.id, "gone");
        await store.createOutput(bucket.id, hook("pruned"));
        await store.appendDeliveries([delivery(bucket.id, "y")]);
        const now = Date.now() + 1000;
        // The second delivery's attempt goes with it; the first one's is cancelled when claimed.
        await store.pruneDeliveries({ receivedBefore: null, keepNewest: 1 }, 10);
        await store.pruneDeliveries({ receivedBefore: now, keepNewest: null }, 10);
        expect(await store.claimOutputAttempts(now, 1000, 10)).toEqual([]);
        const other = await store.createBucket("b");
        await store.createOutput(other.id, hook("ci"));
        const [fresh] = await store.appendDeliveries([delivery(other.id, "z")]);
        await store.deleteOutput(other.id, "ci");
        expect(await store.claimOutputAttempts(Date.now() + 1000, 1000, 10)).toEqual([]);
        expect(await store.outputAttempts([fresh?.id ?? ""])).toMatchObject([
          { state: "cancelled", error: "output deleted", nextAt: null },
        ]);
        expect(kept?.id).toBeString();
      });
    });

    test("an input's response passthrough is off by default, set and kept with its timeout", async () => {
      await withStore(async (store) => {
        const bucket = await store.createBucket("a");
        const input = bucket.inputs[0] as Input;
        expect(input).toMatchObject({ passthrough: false, passthroughTimeoutMs: 10_000 });
        const updated = await store.updateInput(input.id, { passthrough: true, passthroughTimeoutMs: 2500 });
        expect(updated).toMatchObject({ passthrough: true, passthroughTimeoutMs: 2500 });
        expect(await store.updateInput(input.id, { name: "renamed" })).toMatchObject({
          passthrough: true,
          passthroughTimeoutMs: 2500,
        });
        expect((await store.resolveInput(input.id))?.input).toMatchObject({ passthrough: true });
      });
    });
  });

  describe(`${name} store: tokens`, () => {
    test("tokens are found by key with their secret hash; revoked ones are reported inactive", async () => {
      await withStore(async (store) => {
        const bucket = await store.createBucket("a");
        const one = generateToken();
        const two = generateToken();
        const t1 = await store.createToken({ ...one, description: "ops", admin: true, bucketIds: null });
        const t2 = await store.createToken({
          ...two,
          description: "",
          admin: false,
          bucketIds: [bucket.id, bucket.id],
        });
        expect(t2.id).toBeGreaterThan(t1.id);
        expect(t1).toMatchObject({
          key: one.key,
          description: "ops",
          admin: true,
          bucketIds: null,
          revokedAt: null,
        });
        expect(t2.bucketIds).toEqual([bucket.id]);
        const found = await store.findToken(one.key);
        expect(found?.token).toEqual(t1);
        expect([...(found?.secretHash ?? [])]).toEqual([...one.secretHash]);
        expect(await store.findToken("unknown")).toBeNull();
        expect((await store.listTokens()).map((t) => t.key)).toEqual([one.key, two.key]);

        expect(await store.countAdminTokens()).toBe(1);
        expect(await store.inactiveTokens([])).toEqual([]);
        expect(await store.revokeToken(one.key)).toBe(true);
        expect(await store.revokeToken(one.key)).toBe(false);
        expect(await store.revokeToken("unknown")).toBe(false);
        expect((await store.findToken(one.key))?.token.revokedAt).toBeNumber();
        expect(await store.inactiveTokens([t1.id, t2.id, 999])).toEqual([t1.id, 999]);
        expect(await store.countAdminTokens()).toBe(0);
        const listed = JSON.stringify(await store.listTokens());
        expect(listed).not.toContain(one.secret);
        expect(listed).not.toContain(two.secret);
      });
    });
  });

  describe(`${name} store: reported changes`, () => {
    /** Resolves with the next origin reported, or "none" when nothing is within `ms`. */
    const nextChange = (origins: string[], ms: number) =>
      waitFor(() => origins.length > 0, ms, "a reported change").then(
        () => origins.shift() ?? "none",
        () => "none",
      );

    test("a revocation and a bucket deletion are reported at once; a failed one is not", async () => {
      await withStore(async (store) => {
        const origins: string[] = [];
        const watch = store.watchChanges((origin) => origins.push(origin));
        try {
          const bucket = await store.createBucket("a");
          const token = generateToken();
          await store.createToken({ ...token, description: "", admin: false, bucketIds: null });
          origins.length = 0;
          // (A store may also hear its own announcement come back as "external".)
          const locals = () => origins.filter((origin) => origin === "local").length;
          expect(await store.revokeToken(token.key)).toBe(true);
          expect(locals()).toBe(1);
          expect(await store.revokeToken(token.key)).toBe(false);
          expect(locals()).toBe(1);
          expect(await store.deleteBucket(bucket.id)).toBe(true);
          expect(locals()).toBe(2);
        } finally {
          watch.stop();
        }
      });
    });

    test("another connection's revocation is reported without polling", async () => {
      await withStore(async (store, backend) => {
        const token = generateToken();
        await store.createToken({ ...token, description: "", admin: false, bucketIds: null });
        const origins: string[] = [];
        const watch = store.watchChanges((origin) => origins.push(origin));
        try {
          await waitFor(() => watch.reliable(), 5_000, "the store reporting other processes' changes");
          const other = await backend.connect();
          expect(await other.store.revokeToken(token.key)).toBe(true);
          await other.close();
          expect(await nextChange(origins, 2_000)).toBe("external");
          const version = await store.externalChanges();
          expect(await store.inactiveTokens([1])).toEqual([1]);
          expect(await store.externalChanges()).toBe(version);
        } finally {
          watch.stop();
        }
      });
    });
  });

  describe(`${name} store: deliveries`, () => {
    test("positions increase in call order, also for concurrent calls, and are never reused", async () => {
      await withStore(async (store) => {
        const a = await store.createBucket("a");
        const b = await store.createBucket("b");
        const calls = await Promise.all(
          Array.from({ length: 40 }, (_, call) =>
            store.appendDeliveries(
              Array.from({ length: 1 + (call % 3) }, (_, i) => delivery(i % 2 ? b.id : a.id, `${call}.${i}`)),
            ),
          ),
        );
        const positions = await positionsOf(store, calls.flat());
        expect(positions).toEqual([...positions].sort((x, y) => x - y));
        expect(new Set(positions).size).toBe(positions.length);
        expect((await store.deliveryPosition()).lastPosition).toBe(positions.at(-1) as number);

        await store.deleteBucket(b.id);
        const [next] = await store.appendDeliveries([delivery(a.id, "after")]);
        const [position] = await positionsOf(store, next === undefined ? [] : [next]);
        expect(position).toBeGreaterThan(positions.at(-1) as number);
        // An id works as a cursor for listing.
        const firstOfA = calls[0]?.[0]?.id ?? null;
        const afterFirst = await store.listDeliveries(a.id, firstOfA, 3);
        expect(text(afterFirst)).toEqual(["1.0", "2.0", "2.2"]);
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
        expect(results[1]).toEqual({ id: null, duplicate: true });
        const again = await store.appendDeliveries([
          delivery(a.id, "6", "guid"),
          delivery(a.id, "7", "other"),
        ]);
        expect(again.map((r) => r.duplicate)).toEqual([true, false]);
        expect(text(await store.listDeliveries(a.id, null, 10))).toEqual(["1", "4", "5", "7"]);
        expect((await store.listDeliveries(a.id, null, 1))[0]?.githubDelivery).toBe("guid");
        expect(text([(await store.deliveryByGithubId(a.id, "other")) as StoredDelivery])).toEqual(["7"]);
        expect((await store.deliveryByGithubId(b.id, "guid"))?.bucketId).toBe(b.id);
        expect(await store.deliveryByGithubId(a.id, "never")).toBeNull();
      });
    });

    test("bodies come back byte for byte, with method, headers, query, address, time and replay mark", async () => {
      await withStore(async (store) => {
        const bucket = await store.createBucket("a");
        const binary = new Uint8Array(70_000);
        for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) % 256;
        const sent: NewDelivery[] = [
          {
            bucketId: bucket.id,
            inputId: bucket.inputs[0]?.id ?? "",
            githubDelivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            method: "PUT",
            headers: { "X-Github-Event": ["push"], "X-Multi": ["one", "two"], "X-Unicode": ["é ✓"] },
            query: "a=1&b=%20two&a=3",
            body: binary,
            sourceAddress: "2001:db8::1",
            receivedAt: 1_700_000_000_123,
          },
          { ...delivery(bucket.id, ""), githubDelivery: null, body: new Uint8Array(0) },
          { ...delivery(bucket.id, ""), body: new Uint8Array([0, 255, 0, 10, 13, 61, 61]) },
          { ...delivery(bucket.id, "a copy"), replayOf: "12" },
        ];
        const ids = (await store.appendDeliveries(sent)).map((r) => r.id);
        const expected: StoredDelivery[] = sent.map((d, i) => ({ ...d, id: String(ids[i]) }));
        expect(await store.listDeliveries(bucket.id, null, 10)).toEqual(expected);
        expect(await store.recentDeliveries(bucket.id, 10)).toEqual([...expected].reverse());
        const { lastPosition } = await store.deliveryPosition();
        const page = await store.readDeliveries({
          bucketIds: [bucket.id],
          afterPosition: 0,
          throughPosition: lastPosition,
          maxRows: 10,
          maxBytes: 1 << 20,
        });
        expect(page.deliveries).toEqual(
          expected.map((d) => ({
            ...d,
            bucketName: "a",
            inputName: d.method === "PUT" ? "Default public endpoint" : "",
          })),
        );
      });
    });

    test("a bucket's deliveries are listed after a cursor, and its recent ones newest first", async () => {
      await withStore(async (store) => {
        const a = await store.createBucket("a");
        const b = await store.createBucket("b");
        const results = await store.appendDeliveries(
          Array.from({ length: 300 }, (_, i) => delivery(i % 3 === 0 ? a.id : b.id, String(i))),
        );
        expect(text(await store.recentDeliveries(a.id, 3))).toEqual(["297", "294", "291"]);
        expect(await store.recentDeliveries(a.id, 1000)).toHaveLength(100);
        expect(text(await store.listDeliveries(a.id, null, 2))).toEqual(["0", "3"]);
        expect(text(await store.listDeliveries(a.id, results[250]?.id ?? null, 1000))).toEqual(
          Array.from({ length: 16 }, (_, i) => String(252 + 3 * i)),
        );
        expect(await store.listDeliveries(a.id, results[299]?.id ?? null, 10)).toEqual([]);
        expect(await store.recentDeliveries(crypto.randomUUID(), 10)).toEqual([]);
      });
    });

    test("a read pages through the chosen buckets in store order, with the names, within its bounds", async () => {
      await withStore(async (store) => {
        const a = await store.createBucket("a");
        const b = await store.createBucket("b");
        const c = await store.createBucket("c");
        const positions = await positionsOf(
          store,
          await store.appendDeliveries(
            Array.from({ length: 12 }, (_, i) => delivery([a, b, c][i % 3]?.id ?? "", String(i))),
          ),
        );
        const at = (i: number) => positions[i] as number;
        const read = (
          bucketIds: string[] | null,
          afterPosition: number,
          throughPosition: number,
          maxRows = 100,
        ) => store.readDeliveries({ bucketIds, afterPosition, throughPosition, maxRows, maxBytes: 1 << 20 });
        const all = at(11);
        expect(bodies(await read([a.id, c.id], 0, all))).toEqual(["0", "2", "3", "5", "6", "8", "9", "11"]);
        expect(bodies(await read([c.id, a.id], at(2), at(8)))).toEqual(["3", "5", "6", "8"]);
        expect(bodies(await read([a.id, b.id], 0, all, 3))).toEqual(["0", "1", "3"]);
        expect(bodies(await read(null, at(9), all))).toEqual(["10", "11"]);
        expect(bodies(await read(null, 0, at(4)))).toEqual(["0", "1", "2", "3", "4"]);
        expect(bodies(await read([a.id], all, all + 100))).toEqual([]);
        expect(bodies(await read([], 0, all))).toEqual([]);
        const [first] = (await read([b.id], 0, all)).deliveries;
        // The test deliveries name an input that does not exist: its name reads as empty.
        expect(first).toMatchObject({
          bucketName: "b",
          inputName: "",
          id: (await store.listDeliveries(b.id, null, 1))[0]?.id,
        });
      });
    });

    test("a read stops after maxBytes of bodies, but always returns at least one delivery", async () => {
      await withStore(async (store) => {
        const a = await store.createBucket("a");
        await store.appendDeliveries(Array.from({ length: 5 }, () => delivery(a.id, "x".repeat(1000))));
        const { lastPosition } = await store.deliveryPosition();
        const read = (maxBytes: number) =>
          store.readDeliveries({
            bucketIds: [a.id],
            afterPosition: 0,
            throughPosition: lastPosition,
            maxRows: 100,
            maxBytes,
          });
        expect((await read(10)).deliveries).toHaveLength(1);
        expect((await read(2500)).deliveries).toHaveLength(3);
        expect((await read(3000)).deliveries).toHaveLength(3);
        expect((await read(1 << 20)).deliveries).toHaveLength(5);
      });
    });

    test("a read finds a quiet bucket's deliveries far apart in a long store", async () => {
      await withStore(async (store) => {
        const busy = await store.createBucket("busy");
        const quiet = await store.createBucket("quiet");
        const batch = (label: string) => [
          delivery(quiet.id, label),
          ...Array.from({ length: 999 }, () => delivery(busy.id, "")),
        ];
        for (const label of ["q1", "q2", "q3", "q4", "q5"]) await store.appendDeliveries(batch(label));
        const { lastPosition } = await store.deliveryPosition();
        const seen: string[] = [];
        let after = 0;
        for (;;) {
          const page = await store.readDeliveries({
            bucketIds: [quiet.id],
            afterPosition: after,
            throughPosition: lastPosition,
            maxRows: 2,
            maxBytes: 1 << 20,
          });
          if (page.deliveries.length === 0) break;
          seen.push(...bodies(page));
          after =
            (
              await positionsOf(
                store,
                page.deliveries.map((d) => ({ id: d.id, duplicate: false })),
              )
            ).at(-1) ?? 0;
        }
        expect(seen).toEqual(["q1", "q2", "q3", "q4", "q5"]);
      });
    });
  });

  describe(`${name} store: retention`, () => {
    test("retention deletes deliveries received before the cut-off, at most a batch per call", async () => {
      await withStore(async (store) => {
        const bucket = await store.createBucket("a");
        const old = (body: string) => ({ ...delivery(bucket.id, body), receivedAt: 1_000 });
        await store.appendDeliveries([old("1"), old("2"), old("3"), delivery(bucket.id, "new")]);
        const byAge = { receivedBefore: 2_000, keepNewest: null };
        expect(await store.pruneDeliveries(byAge, 2)).toBe(2);
        expect(await store.pruneDeliveries(byAge, 2)).toBe(1);
        expect(await store.pruneDeliveries(byAge, 2)).toBe(0);
        expect(text(await store.listDeliveries(bucket.id, null, 10))).toEqual(["new"]);
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
        ];
        expect(text(left).sort()).toEqual(["7", "8", "9"]);
        expect(await store.pruneDeliveries({ receivedBefore: null, keepNewest: null }, 10)).toBe(0);
      });
    });

    test("a pruned X-GitHub-Delivery can be stored again", async () => {
      await withStore(async (store) => {
        const a = await store.createBucket("a");
        await store.appendDeliveries([{ ...delivery(a.id, "old", "guid"), receivedAt: 1_000 }]);
        expect(await store.pruneDeliveries({ receivedBefore: 2_000, keepNewest: null }, 10)).toBe(1);
        const [again] = await store.appendDeliveries([delivery(a.id, "again", "guid")]);
        expect(again?.duplicate).toBe(false);
      });
    });

    test("the retention floor says, per bucket, up to which position retention deleted by count", async () => {
      await withStore(async (store) => {
        const busy = await store.createBucket("busy");
        const quiet = await store.createBucket("quiet");
        const [first] = await positionsOf(store, await store.appendDeliveries([delivery(quiet.id, "q")]));
        const positions = await positionsOf(
          store,
          await store.appendDeliveries(Array.from({ length: 6 }, (_, i) => delivery(busy.id, String(i)))),
        );
        const read = async (bucketIds: string[] | null) =>
          (
            await store.readDeliveries({
              bucketIds,
              afterPosition: 0,
              throughPosition: positions.at(-1) as number,
              maxRows: 100,
              maxBytes: 1 << 20,
            })
          ).prunedThrough;
        expect(await read(null)).toBe(0);
        // Keep 3: the quiet bucket's one delivery and the busy bucket's first three go.
        expect(await store.pruneDeliveries({ receivedBefore: null, keepNewest: 3 }, 100)).toBe(4);
        expect(await read([busy.id])).toBe(positions[2] as number);
        expect(await read([quiet.id])).toBe(first as number);
        expect(await read([busy.id, quiet.id])).toBe(positions[2] as number);
        expect(await read(null)).toBe(positions[2] as number);
        // A bucket retention never touched has floor 0: a reader of it missed nothing.
        const fresh = await store.createBucket("fresh");
        expect(await read([fresh.id])).toBe(0);
        // Deleting a bucket forgets its floor.
        await store.deleteBucket(quiet.id);
        expect(await read([quiet.id])).toBe(0);
      });
    });

    test("the retention floor is exact per bucket after pruning by age, in batches", async () => {
      await withStore(async (store) => {
        const a = await store.createBucket("a");
        const b = await store.createBucket("b");
        const old = (bucketId: string, body: string) => ({ ...delivery(bucketId, body), receivedAt: 1_000 });
        const positions = await positionsOf(
          store,
          await store.appendDeliveries([
            old(a.id, "a1"),
            old(b.id, "b1"),
            old(a.id, "a2"),
            old(b.id, "b2"),
            delivery(a.id, "a3"),
            delivery(b.id, "b3"),
          ]),
        );
        const page = (bucketIds: string[] | null) =>
          store.readDeliveries({
            bucketIds,
            afterPosition: 0,
            throughPosition: positions.at(-1) as number,
            maxRows: 100,
            maxBytes: 1 << 20,
          });
        const byAge = { receivedBefore: 2_000, keepNewest: null };
        expect(await store.pruneDeliveries(byAge, 3)).toBe(3);
        expect((await page([a.id])).prunedThrough).toBe(positions[2] as number);
        expect((await page([b.id])).prunedThrough).toBe(positions[1] as number);
        expect(bodies(await page([b.id]))).toEqual(["b2", "b3"]);
        expect(await store.pruneDeliveries(byAge, 3)).toBe(1);
        expect((await page([b.id])).prunedThrough).toBe(positions[3] as number);
        expect(await page([a.id, b.id])).toMatchObject({ prunedThrough: positions[3] as number });
        expect(bodies(await page(null))).toEqual(["a3", "b3"]);
      });
    });

    test("the last position survives pruning everything", async () => {
      await withStore(async (store) => {
        const a = await store.createBucket("a");
        const positions = await positionsOf(
          store,
          await store.appendDeliveries([delivery(a.id, "1"), delivery(a.id, "2")]),
        );
        expect(
          await store.pruneDeliveries({ receivedBefore: Date.now() + 60_000, keepNewest: null }, 100),
        ).toBe(2);
        expect((await store.deliveryPosition()).lastPosition).toBe(positions[1] as number);
        expect(await store.listDeliveries(a.id, null, 10)).toEqual([]);
        const [next] = await positionsOf(store, await store.appendDeliveries([delivery(a.id, "3")]));
        expect(next).toBeGreaterThan(positions[1] as number);
      });
    });
  });

  describe(`${name} store: generated operations against a model`, () => {
    test("pages read through the recent deliveries in memory are the store's own, while retention deletes among them", async () => {
      await withStore(async (store) => {
        const random = seededRandom(11);
        const buckets = [await store.createBucket("a"), await store.createBucket("b")];
        // The names as the relay's directory knows them, to hold the pages' names to the store's too.
        const names = new Map<string, string>();
        for (const bucket of await store.listBuckets()) {
          names.set(bucket.id, bucket.name);
          for (const input of bucket.inputs) names.set(input.id, input.name);
        }
        // About 20 deliveries in memory; retention keeps fewer than that, so it deletes among them.
        const recent = createRecentDeliveries({
          startPosition: 0,
          namesOf: (bucketId, inputId) => ({
            bucketName: names.get(bucketId) ?? "?",
            inputName: names.get(inputId) ?? "?",
          }),
          maxBytes: 44_000,
        });
        const throughRecent = recentFirst(store, recent);
        const positions: number[] = [0];
        const problems: string[] = [];
        for (let op = 0; op < 300 && problems.length === 0; op++) {
          const kind = random(10);
          if (kind < 5) {
            const batch = Array.from({ length: 1 + random(3) }, () =>
              delivery(buckets[random(2)]?.id as string, `${op}-${"x".repeat(random(50))}`),
            );
            const results = await store.appendDeliveries(batch);
            const { cursors } = await store.deliveryPosition();
            for (const [i, result] of results.entries()) {
              if (result.id === null) continue;
              const position = cursors.positionOf(result.id);
              positions.push(position);
              const sent = batch[i] as NewDelivery;
              // Published under older names: the page carries the names as they are now.
              recent.add({ ...sent, id: result.id, bucketName: "old", inputName: "old" }, position);
            }
          } else if (kind < 6) {
            await store.pruneDeliveries({ receivedBefore: null, keepNewest: random(25) }, 1000);
          } else {
            const choice = random(3);
            const bucketIds = choice === 0 ? null : choice === 1 ? [buckets[0]?.id as string] : [];
            const from = Math.max(0, positions.length - 30);
            const read = {
              bucketIds,
              afterPosition: positions[from + random(positions.length - from)] as number,
              throughPosition: positions.at(-1) as number,
              maxRows: 1 + random(8),
              maxBytes: [1, 100, 1 << 20][random(3)] as number,
            };
            const [own, fromRecent] = [
              await store.readDeliveries(read),
              await throughRecent.readDeliveries(read),
            ];
            if (JSON.stringify(bodies(fromRecent)) !== JSON.stringify(bodies(own)))
              problems.push(
                `op ${op}: ${JSON.stringify(read)}: ${bodies(fromRecent)} against ${bodies(own)}`,
              );
            if (fromRecent.prunedThrough !== own.prunedThrough)
              problems.push(
                `op ${op}: prunedThrough ${fromRecent.prunedThrough} against ${own.prunedThrough}`,
              );
          }
        }
        expect(problems).toEqual([]);
        const { pagesFromMemory, pagesFromStore } = recent.stats();
        console.log(`${name}: ${pagesFromMemory} pages from memory, ${pagesFromStore} from the store`);
        expect(pagesFromMemory).toBeGreaterThanOrEqual(50);
        expect(pagesFromStore).toBeGreaterThanOrEqual(10);
      });
    });

    test("appends with repeated delivery ids, pruning by age and count, and reads in every shape agree with a model", async () => {
      await withStore(async (store) => {
        const random = seededRandom(3);
        const buckets = [
          await store.createBucket("a"),
          await store.createBucket("b"),
          await store.createBucket("c"),
        ];
        // The same reads through the recent deliveries in memory, fed every stored delivery as the live
        // source would be: a window of about 25, so that some reads are answered there and some are not.
        const recent = createRecentDeliveries({
          startPosition: 0,
          namesOf: () => ({ bucketName: "", inputName: "" }),
          maxBytes: 60_000,
        });
        const throughRecent = recentFirst(store, recent);
        interface Kept {
          position: number;
          bucket: string;
          body: string;
          githubDelivery: string | null;
          receivedAt: number;
        }
        let live: Kept[] = [];
        const floor = new Map<string, number>();
        const known: number[] = [0];
        let clock = 1_000;
        const problems: string[] = [];
        for (let op = 0; op < 150 && problems.length === 0; op++) {
          const kind = random(20);
          if (kind < 9) {
            const batch = Array.from({ length: 1 + random(4) }, () => {
              const bucket = buckets[random(3)]?.id as string;
              const githubDelivery = random(2) === 0 ? null : `g${random(12)}`;
              return {
                ...delivery(bucket, `${op}-${"x".repeat(random(120))}`, githubDelivery),
                receivedAt: clock++,
              };
            });
            const results = await store.appendDeliveries(batch);
            const { cursors } = await store.deliveryPosition();
            for (const [i, result] of results.entries()) {
              const sent = batch[i] as NewDelivery;
              const body = new TextDecoder().decode(sent.body);
              const taken =
                sent.githubDelivery !== null &&
                live.some((k) => k.bucket === sent.bucketId && k.githubDelivery === sent.githubDelivery);
              if (result.duplicate !== taken)
                problems.push(`op ${op}: duplicate ${result.duplicate}, model ${taken}`);
              if (result.id === null) continue;
              const position = cursors.positionOf(result.id);
              if (position <= (known.at(-1) ?? 0))
                problems.push(`op ${op}: position ${position} not increasing`);
              known.push(position);
              recent.add({ ...sent, id: result.id, bucketName: "", inputName: "" }, position);
              live.push({
                position,
                bucket: sent.bucketId,
                body,
                githubDelivery: sent.githubDelivery,
                receivedAt: sent.receivedAt,
              });
            }
          } else if (kind < 12) {
            const byAge = random(2) === 0;
            const keepNewest = random(25);
            const cut = clock - random(40);
            const limit = 1 + random(10);
            const doomed = (
              byAge
                ? live.filter((k) => k.receivedAt < cut)
                : live.slice(0, Math.max(0, live.length - keepNewest))
            ).slice(0, limit);
            const count = await store.pruneDeliveries(
              byAge ? { receivedBefore: cut, keepNewest: null } : { receivedBefore: null, keepNewest },
              limit,
            );
            if (count !== doomed.length) problems.push(`op ${op}: pruned ${count}, model ${doomed.length}`);
            for (const k of doomed) floor.set(k.bucket, Math.max(floor.get(k.bucket) ?? 0, k.position));
            live = live.filter((k) => !doomed.includes(k));
          } else {
            const choice = random(4);
            const bucketIds =
              choice === 0
                ? null
                : choice === 1
                  ? []
                  : buckets.filter(() => random(2) === 0).map((b) => b.id);
            const { lastPosition } = await store.deliveryPosition();
            // Half the reads start among the newest positions, where the recent deliveries answer.
            const from = random(2) === 0 ? 0 : Math.max(0, known.length - 30);
            const afterPosition = known[from + random(known.length - from)] as number;
            const throughPosition = random(3) === 0 ? (known[random(known.length)] as number) : lastPosition;
            const maxRows = 1 + random(6);
            const chosen = (k: Kept) => bucketIds === null || bucketIds.includes(k.bucket);
            const inRange = live.filter(
              (k) => chosen(k) && k.position > afterPosition && k.position <= throughPosition,
            );
            // Sometimes exactly the bytes of the first few bodies: the read must stop right there.
            const exact = inRange.slice(0, 1 + random(3)).reduce((sum, k) => sum + k.body.length, 0);
            const maxBytes = [1, 60, 250, 1 << 20, Math.max(1, exact)][random(5)] as number;
            const read = { bucketIds, afterPosition, throughPosition, maxRows, maxBytes };
            const page = await store.readDeliveries(read);
            const fromRecent = await throughRecent.readDeliveries(read);
            const wanted: string[] = [];
            let bytes = 0;
            for (const k of inRange) {
              if (wanted.length >= maxRows || (wanted.length > 0 && bytes >= maxBytes)) break;
              wanted.push(k.body);
              bytes += k.body.length;
            }
            const floors = [...floor].filter(([bucket]) => bucketIds === null || bucketIds.includes(bucket));
            const prunedThrough = Math.max(0, ...floors.map(([, position]) => position));
            const got = bodies(page);
            const shape = `read ${JSON.stringify({ choice, afterPosition, throughPosition, maxRows, maxBytes })}`;
            if (JSON.stringify(got) !== JSON.stringify(wanted))
              problems.push(`op ${op}: ${shape} gave ${got.length} deliveries, model ${wanted.length}`);
            if (page.prunedThrough !== prunedThrough)
              problems.push(`op ${op}: ${shape} prunedThrough ${page.prunedThrough}, model ${prunedThrough}`);
            if (JSON.stringify(bodies(fromRecent)) !== JSON.stringify(wanted))
              problems.push(
                `op ${op}: ${shape} through memory gave ${bodies(fromRecent).length}, model ${wanted.length}`,
              );
            if (fromRecent.prunedThrough !== prunedThrough)
              problems.push(`op ${op}: ${shape} through memory prunedThrough ${fromRecent.prunedThrough}`);
            if ((await store.retentionFloor(bucketIds)) !== prunedThrough)
              problems.push(`op ${op}: ${shape} retentionFloor differs from the model's ${prunedThrough}`);
          }
        }
        expect(problems).toEqual([]);
        // Both ways were taken, many times.
        const { pagesFromMemory, pagesFromStore } = recent.stats();
        console.log(
          `${name}: ${pagesFromMemory} reads answered from memory, ${pagesFromStore} from the store`,
        );
        expect(pagesFromMemory).toBeGreaterThanOrEqual(10);
        expect(pagesFromStore).toBeGreaterThanOrEqual(10);
      });
    }, 30_000);
  });
}

contract("SQLite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hookstream-contract-"));
  const path = join(dir, "hookstream.db");
  const store = openSqliteStore(path);
  return {
    store,
    async connect() {
      const other = openSqliteStore(path);
      return { store: other, close: () => other.close() };
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

if (redisAvailable) {
  let redis: TestRedis | null = null;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.[Symbol.asyncDispose]();
  });

  /** A store on its own connection; every backend gets its own key prefix on the one server. */
  const connect = async (keyPrefix: string): Promise<Opened> => {
    if (redis === null) throw new Error("redis-server did not start");
    const connection = await connectRedis({ url: redis.url, log: () => {} });
    const store = await openRedisStore(connection, { keyPrefix, log: () => {} });
    return {
      store,
      async close() {
        await store.close();
        connection.close();
      },
    };
  };

  contract("Redis", async () => {
    const keyPrefix = `contract-${crypto.randomUUID()}:`;
    const main = await connect(keyPrefix);
    return { ...main, connect: () => connect(keyPrefix) };
  });
}
