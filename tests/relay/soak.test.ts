/**
 * Bounded soak of the relay across a restart: senders post numbered webhooks to several buckets at a high
 * rate (retrying whatever failed, until 2xx, with the same X-GitHub-Delivery, and redelivering some on
 * purpose) while subscribers with different bucket sets drop and resume with cursors, one reads slowly with
 * long pauses, and the server is shut down and started again on the same data directory mid-way. At the end
 * every subscriber holds exactly the stored deliveries of its buckets, once each, in store order, and the
 * store holds exactly the accepted ones.
 */
import { expect, test } from "bun:test";
import type { RawWebSocket } from "../helpers/raw-ws.ts";
import { rawConnect } from "../helpers/raw-ws.ts";
import {
  type Credentials,
  rawSend,
  relayFixture,
  relayHealth,
  subscribeFrame,
  type WebhookMessage,
} from "../helpers/relay.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type TestSocket, waitFor, wsConnect } from "../helpers/ws.ts";

/** How long senders run: about 20 s under CI, 5 s on a laptop (SOAK_MS overrides). */
const SOAK_MS = Number(process.env.SOAK_MS ?? (process.env.CI === "true" ? 20_000 : 5_000));
const SENDERS = 16;
const BUCKETS = ["b0", "b1", "b2", "b3"];
/** Padding per body, so the slow client's pauses soon overflow its socket buffers and the lag limit. */
const PADDING = "p".repeat(8192);
/** Longest pause of the slow client: it resumes as soon as the server has taken it off the live topics. */
const MAX_PAUSE_MS = 4000;
const env = { RELAY_LAG_BYTES: "65536", RELAY_STALL_TIMEOUT_MS: "10000", SHUTDOWN_GRACE_MS: "1000" };

interface Status {
  type: "status";
  status: string;
  message?: string;
}

const seqOf = (body: string | Uint8Array) =>
  (JSON.parse(typeof body === "string" ? body : new TextDecoder().decode(body)) as { seq: number }).seq;

test("soak: restart, resuming and slow subscribers, retried and redelivered webhooks — every delivery once, in order", async () => {
  let current: TestServer = await startTestServer({ env });
  const dataDir = current.dataDir;
  const fixture = await relayFixture(current);
  /** Run at the end whatever happened, so a failure leaves no server, socket or sender behind. */
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    const buckets = await Promise.all(BUCKETS.map((name) => fixture.createBucket(name)));
    const bucketIdOf = new Map(buckets.map((b) => [b.name, b.id]));
    const inputOf = new Map(buckets.map((b) => [b.name, (b.inputs[0] as { id: string }).id]));
    const token: Credentials = await fixture.createToken();
    const { cursors } = await fixture.store.deliveryPosition();
    const START = cursors.format(0);
    let restarting = false;

    // Subscribers: bucket sets by name or id (null: all), each starting from the beginning by cursor.
    const problems: string[] = [];
    const handle = (name: string, received: WebhookMessage[], accepts: Set<string> | null, raw: string) => {
      const message = JSON.parse(raw) as WebhookMessage | Status;
      if (message.type === "webhook") {
        if (accepts !== null && !accepts.has(message.meta.bucked_id))
          problems.push(`${name}: a delivery of ${message.meta.bucket_name}`);
        received.push(message);
      } else if (!["authenticated", "subscribed", "live", "ping"].includes(message.status)) {
        problems.push(`${name}: ${raw}`);
      }
    };
    const idsOf = (set: string[] | null) =>
      set === null ? null : new Set(set.map((ref) => bucketIdOf.get(ref) ?? ref));

    function resumingClient(name: string, set: string[] | null) {
      const received: WebhookMessage[] = [];
      const accepts = idsOf(set);
      let socket: TestSocket | null = null;
      let stopped = false;
      let reconnects = 0;
      const connect = async (): Promise<TestSocket> => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          try {
            const s = await wsConnect(current.wsUrl("/v1/socket"), 2000);
            s.send(JSON.stringify({ action: "auth", ...token }));
            s.send(JSON.stringify(subscribeFrame(set, received.at(-1)?.cursor ?? START)));
            return s;
          } catch (error) {
            if (Date.now() > deadline) throw error;
            await Bun.sleep(50);
          }
        }
      };
      const loop = (async () => {
        while (!stopped) {
          const s = await connect();
          socket = s;
          for (;;) {
            let raw: string;
            try {
              // Short waits: the helper's next() notices a close only when it starts waiting.
              raw = await s.next(200);
            } catch (error) {
              if (String(error).includes("no message")) continue;
              break; // closed: by us or by the restart
            }
            handle(name, received, accepts, raw);
          }
          if (!stopped) reconnects++;
        }
      })();
      return {
        name,
        set,
        received,
        reconnects: () => reconnects,
        drop: () => socket?.close(),
        async stop() {
          stopped = true;
          socket?.close();
          await loop;
        },
      };
    }

    /** Resolves once `predicate` holds or `ms` passed, whichever is first; never throws. */
    const until = async (predicate: () => Promise<boolean>, ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (await predicate().catch(() => false)) return;
        await Bun.sleep(25);
      }
    };

    /**
     * A raw client that stops reading until the server has moved it off the live topics (or MAX_PAUSE_MS
     * passed), then reads for 0.4 s, in turns; after any close it resumes with its cursor.
     */
    function slowClient(name: string, set: string[]) {
      const received: WebhookMessage[] = [];
      const accepts = idsOf(set);
      // Read through a getter: the loops below are async functions started at once, which TypeScript would
      // otherwise narrow `client` to its initial null in.
      let client: RawWebSocket | null = null;
      const connection = (): RawWebSocket | null => client;
      let stopped = false;
      let reconnects = 0;
      let pauses = 0;
      let pacing = true;
      const pacer = (async () => {
        while (pacing) {
          const c = connection();
          if (c === null || restarting) {
            await Bun.sleep(50);
            continue;
          }
          const lagged = (await relayHealth(current).catch(() => null))?.lag_events ?? 0;
          c.pause();
          pauses++;
          await until(async () => !pacing || (await relayHealth(current)).lag_events > lagged, MAX_PAUSE_MS);
          c.resume();
          await Bun.sleep(400);
        }
      })();
      const loop = (async () => {
        while (!stopped) {
          const deadline = Date.now() + 30_000;
          let c: RawWebSocket;
          for (;;) {
            try {
              c = await rawConnect(current.server.port as number, "/v1/socket");
              break;
            } catch (error) {
              if (Date.now() > deadline) throw error;
              await Bun.sleep(50);
            }
          }
          rawSend(c, JSON.stringify({ action: "auth", ...token }));
          rawSend(c, JSON.stringify(subscribeFrame(set, received.at(-1)?.cursor ?? START)));
          client = c;
          await new Promise((resolve) => c.socket.once("close", resolve));
          client = null;
          for (const raw of c.messages) handle(name, received, accepts, raw);
          if (!stopped) reconnects++;
        }
      })();
      return {
        name,
        set: set as string[] | null,
        received,
        reconnects: () => reconnects,
        /** Messages read but not yet handled (they are handled when the connection ends). */
        pending: () => client?.messages.filter((raw) => raw.startsWith('{"type":"webhook"')).length ?? 0,
        pauses: () => pauses,
        /** Reads at full speed from now on. */
        async finish() {
          pacing = false;
          await pacer;
          client?.resume();
        },
        async stop() {
          await this.finish();
          stopped = true;
          client?.resume();
          client?.end();
          await loop;
        },
      };
    }

    const clients = [
      resumingClient("b0", ["b0"]),
      resumingClient("b0+b1", ["b0", "b1"]),
      resumingClient("all", null),
      resumingClient("b2+b3 by id", [bucketIdOf.get("b2") ?? "", bucketIdOf.get("b3") ?? ""]),
    ];
    const slow = slowClient("slow b1+b3", ["b1", "b3"]);
    for (const client of [...clients, slow]) cleanups.push(() => client.stop());

    // Senders: each webhook is retried until it gets 2xx, with the same delivery id; some are redelivered.
    const accepted = new Set<number>();
    let nextSeq = 0;
    let stopSending = false;
    let retries = 0;
    let redeliveries = 0;
    const deliver = async (seq: number) => {
      const bucket = BUCKETS[seq % BUCKETS.length] as string;
      const body = JSON.stringify({ seq, bucket, padding: PADDING });
      for (let attempt = 0; ; attempt++) {
        try {
          const response = await fetch(current.httpUrl(`/v1/webhooks/${inputOf.get(bucket)}`), {
            method: "POST",
            headers: { "Content-Type": "application/json", "X-GitHub-Delivery": `delivery-${seq}` },
            body,
          });
          await response.arrayBuffer();
          if (response.status === 200) return;
        } catch {
          // Refused or reset (the restart): retry.
        }
        retries++;
        if (attempt > 2000) throw new Error(`delivery ${seq} never accepted`);
        await Bun.sleep(restarting ? 50 : 5);
      }
    };
    cleanups.unshift(async () => {
      stopSending = true;
      await Promise.allSettled(senders);
    });
    const senders = Array.from({ length: SENDERS }, async () => {
      while (!stopSending) {
        const seq = nextSeq++;
        await deliver(seq);
        accepted.add(seq);
        if (seq % 97 === 0) {
          // GitHub's "redeliver": the same delivery id again, already accepted.
          await deliver(seq);
          redeliveries++;
        }
      }
    });

    const started = Date.now();
    let lagEvents = 0;
    let restarted = false;
    let drops = 0;
    while (Date.now() - started < SOAK_MS) {
      await Bun.sleep(250);
      clients[drops % clients.length]?.drop();
      drops++;
      if (!restarted && Date.now() - started > SOAK_MS / 2) {
        restarted = true;
        lagEvents += (await relayHealth(current)).lag_events;
        restarting = true;
        await current.shutdown();
        current = await startTestServer({ env, dataDir });
        restarting = false;
      }
    }
    stopSending = true;
    await Promise.all(senders);
    const elapsedS = (Date.now() - started) / 1000;
    await slow.finish();

    // What the store holds, in store order, is the reference.
    const stored = (
      await fixture.store.readDeliveries({
        bucketIds: null,
        afterPosition: 0,
        throughPosition: Number.MAX_SAFE_INTEGER,
        maxRows: 10_000_000,
        maxBytes: Number.MAX_SAFE_INTEGER,
      })
    ).deliveries;
    const storedSeqs = stored.map((d) => seqOf(d.body));
    expect(new Set(storedSeqs).size).toBe(stored.length);
    expect(storedSeqs.length).toBe(accepted.size);
    expect(new Set(storedSeqs)).toEqual(accepted);

    for (const client of [...clients, slow]) {
      const ids = idsOf(client.set);
      const expected = stored.filter((d) => ids === null || ids.has(d.bucketId));
      await waitFor(
        () => client.received.length + ("pending" in client ? client.pending() : 0) >= expected.length,
        30_000,
        `${client.name} complete`,
      );
      await client.stop();
      expect({
        client: client.name,
        cursors: client.received.map((m) => m.cursor),
        seqs: client.received.map((m) => seqOf(m.body)),
      }).toEqual({
        client: client.name,
        cursors: expected.map((d) => cursors.format(Number(d.id))),
        seqs: expected.map((d) => seqOf(d.body)),
      });
    }
    expect(problems).toEqual([]);

    lagEvents += (await relayHealth(current)).lag_events;
    const reconnects = clients.reduce((sum, c) => sum + c.reconnects(), 0) + slow.reconnects();
    console.log(
      `relay soak: ${accepted.size} webhooks accepted in ${elapsedS.toFixed(1)} s (${Math.round(accepted.size / elapsedS)}/s, ` +
        `${retries} retried, ${redeliveries} redelivered), ${reconnects} reconnects, ${lagEvents} lag events, one restart`,
    );
    // The paths under test were really taken.
    expect(restarted).toBe(true);
    expect(redeliveries).toBeGreaterThan(0);
    expect(reconnects).toBeGreaterThanOrEqual(clients.length + 3);
    expect(slow.reconnects()).toBeGreaterThanOrEqual(1);
    expect(slow.pauses()).toBeGreaterThanOrEqual(2);
    expect(lagEvents).toBeGreaterThanOrEqual(1);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    await fixture[Symbol.asyncDispose]();
    await current[Symbol.asyncDispose]();
  }
}, 180_000);
