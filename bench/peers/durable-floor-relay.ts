/**
 * The durable relay's floor, run with Bun: the least a Bun server must do for hookstream's relay job under
 * its contract. It checks the body's `X-Hub-Signature-256` (with hookstream's own check), stores the body,
 * answers 200 only once an fdatasync that started after the write has finished (POSTs that arrive while one
 * runs share the next: a group commit on the thread pool, as hookstream's store does), and then hands the
 * body unchanged to every WebSocket client. No index, no protocol, no retention: what hookstream spends beyond this is its own
 * cost, and what this spends beyond the no-store relay is the contract's.
 *
 * Two stores, so that the store's own share shows:
 * - `STORE=file` (default): each body appended to one file, length-prefixed;
 * - `STORE=sqlite`: each body a row of a one-table bun:sqlite database in WAL mode (`synchronous=NORMAL`), the
 *   POSTs of one event-loop turn in one transaction, and the WAL file fdatasynced as above. SQLite's own
 *   checkpoints, inside the commit that crosses 1,000 pages.
 *
 *   PORT=<n> FILE=<path> SECRET=<github secret> [STORE=sqlite] bun bench/peers/durable-floor-relay.ts
 */
import { Database } from "bun:sqlite";
import { fdatasync, openSync, writevSync } from "node:fs";
import { verifyGithubSignature } from "../../src/relay/signature.ts";

const TOPIC = "webhooks";
const secret = process.env.SECRET ?? "";
const path = process.env.FILE ?? "durable-floor.log";
const decoder = new TextDecoder();

/** Stores a body; `then` runs once it is committed (not yet durable). */
type Store = (body: Uint8Array, then: () => void) => void;

function fileStore(): { store: Store; syncedFile: number } {
  const fd = openSync(path, "a");
  const store: Store = (body, then) => {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, body.byteLength);
    writevSync(fd, [length, body]);
    then();
  };
  return { store, syncedFile: fd };
}

function sqliteStore(): { store: Store; syncedFile: number } {
  const db = new Database(path, { create: true });
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = NORMAL");
  db.run("CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
  const insert = db.prepare("INSERT INTO deliveries (body) VALUES (?)");
  let turn: Array<{ body: Uint8Array; then: () => void }> = [];
  const commit = db.transaction((bodies: Uint8Array[]) => {
    for (const body of bodies) insert.run(body);
  });
  // The WAL exists once the first commit wrote to it; SQLite keeps it for the connection's life.
  commit([new Uint8Array(0)]);
  const store: Store = (body, then) => {
    if (turn.length === 0)
      setImmediate(() => {
        const batch = turn;
        turn = [];
        commit(batch.map((pending) => pending.body));
        for (const pending of batch) pending.then();
      });
    turn.push({ body, then });
  };
  return { store, syncedFile: openSync(`${path}-wal`, "r") };
}

const { store, syncedFile } = process.env.STORE === "sqlite" ? sqliteStore() : fileStore();

/** Answers waiting for the next fdatasync, in commit order. */
let waiting: Array<() => void> = [];
let syncing = false;

function syncNext(): void {
  if (syncing || waiting.length === 0) return;
  const batch = waiting;
  waiting = [];
  syncing = true;
  fdatasync(syncedFile, (error) => {
    syncing = false;
    if (error) throw error;
    for (const done of batch) done();
    syncNext();
  });
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  async fetch(request, bun) {
    if (request.method !== "POST")
      return bun.upgrade(request) ? undefined : new Response(null, { status: 404 });
    const body = new Uint8Array(await request.arrayBuffer());
    if (!verifyGithubSignature(secret, body, request.headers.get("x-hub-signature-256")))
      return new Response(null, { status: 401 });
    const { promise, resolve } = Promise.withResolvers<Response>();
    store(body, () => {
      waiting.push(() => {
        server.publish(TOPIC, decoder.decode(body));
        resolve(new Response(null, { status: 200 }));
      });
      syncNext();
    });
    return promise;
  },
  websocket: {
    idleTimeout: 0,
    open: (ws) => void ws.subscribe(TOPIC),
    message() {},
  },
});
console.log("listening");
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
