/**
 * History must not answer questions about what masking hid: search, filters and the chunk prefilters see only
 * the masked text, so probing a secret character by character learns nothing.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const GH_TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
const HEX_SECRET = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";
const BEARER = "abcdefabcdef0123456789";
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

const logEntry = (second: number, fields: Record<string, unknown>) =>
  `${JSON.stringify({
    type: "log_entry",
    timestamp: `2026-11-23T10:00:${String(second).padStart(2, "0")}Z`,
    level: "INFO",
    logger_name: "GithubWebhook",
    repository: "org/repo",
    ...fields,
  })}\n`;

const files = {
  "webhooks_2026-11-23.json": [
    logEntry(1, { message: `cloning with ${GH_TOKEN}` }),
    logEntry(2, { message: `fetching with token=${HEX_SECRET}` }),
    logEntry(3, { message: `calling with Authorization: Bearer ${BEARER}` }),
    logEntry(4, { message: "nothing to hide", api_user: GH_TOKEN }),
  ].join(""),
  "server.log": `2026-11-23T10:00:05 GithubWebhook INFO cloning with ${GH_TOKEN}\n`,
};

/** What a reader can observe of one answer (everything but the time it took). */
async function observe(server: TestServer, query: string): Promise<string> {
  const response = await fetch(server.httpUrl(`/logs/api/entries?${query}`));
  expect(response.status).toBe(200);
  const { entries, complete, chunks_read, next_cursor } = (await response.json()) as Record<string, unknown>;
  return JSON.stringify({ entries, complete, chunks_read, next_cursor });
}

const search = (text: string) => `search=${encodeURIComponent(text)}`;

/** Every prefix probe must answer exactly as a prefix nothing has: the secret's characters stay unknown. */
async function expectProbesLearnNothing(server: TestServer): Promise<void> {
  const probes: Array<[string, string]> = [
    ["ghp_", GH_TOKEN.slice(4, 8)],
    ["token=", HEX_SECRET.slice(0, 4)],
    ["Bearer ", BEARER.slice(0, 4)],
  ];
  for (const [prefix, known] of probes) {
    const nothing = await observe(server, search(`${prefix}~`));
    for (const guessed of ["", known]) {
      for (const char of ALPHABET) {
        expect({
          probe: `${prefix}${guessed}${char}`,
          answer: await observe(server, search(`${prefix}${guessed}${char}`)),
        }).toEqual({
          probe: `${prefix}${guessed}${char}`,
          answer: nothing,
        });
      }
    }
  }
  for (const secret of [GH_TOKEN, HEX_SECRET, BEARER, HEX_SECRET.slice(10, 30)]) {
    const page = JSON.parse(await observe(server, search(secret))) as { entries: unknown[] };
    expect({ secret, found: page.entries.length }).toEqual({ secret, found: 0 });
  }
  const nobody = await observe(server, "github_user=ghp_0000000000000000000000000000000000000000");
  expect(await observe(server, `github_user=${GH_TOKEN}`)).toBe(nobody);
}

describe("history search sees only masked text", () => {
  test("prefix and whole-secret searches learn nothing, read from the file or from the cache", async () => {
    await using server = await startTestServer({ files });
    await expectProbesLearnNothing(server); // uncached chunks: the raw-line prefilter path
    const all = JSON.parse(await observe(server, "limit=100")) as { entries: Array<{ message: string }> };
    expect(all.entries.map((e) => e.message)).toEqual([
      "cloning with ghp_*****",
      "nothing to hide",
      "calling with Authorization: Bearer *****",
      "fetching with token=*****",
      "cloning with ghp_*****",
    ]);
    await expectProbesLearnNothing(server); // the same chunks now parsed and cached
  }, 60_000);

  test("the masked text itself is what a search and a filter find", async () => {
    await using server = await startTestServer({ files });
    const found = async (query: string) =>
      (JSON.parse(await observe(server, query)) as { entries: Array<{ message: string }> }).entries.map(
        (e) => e.message,
      );
    expect(await found(search("ghp_*****"))).toEqual(["cloning with ghp_*****", "cloning with ghp_*****"]);
    expect(await found(search("token=*****"))).toEqual(["fetching with token=*****"]);
    expect(await found("github_user=ghp_*****")).toEqual(["nothing to hide"]);
  });

  test("the saved index holds no secret, and a server restarted from it learns nothing either", async () => {
    const first = await startTestServer({ files, keepDataDir: true });
    try {
      await observe(first, "limit=100");
      await first.shutdown();
      const saved = readFileSync(join(first.dataDir, "history.index")).toString("latin1");
      for (const secret of [GH_TOKEN, HEX_SECRET, BEARER, GH_TOKEN.slice(4, 12), HEX_SECRET.slice(0, 8)])
        expect({ secret, saved: saved.includes(secret) }).toEqual({ secret, saved: false });
      await using restarted = await startTestServer({ dataDir: first.dataDir });
      await expectProbesLearnNothing(restarted);
      const health = (await (await fetch(restarted.httpUrl("/health"))).json()) as {
        history: { files_restored: number; bytes_indexed: number };
      };
      expect(health.history).toMatchObject({ files_restored: 2, bytes_indexed: 0 });
    } finally {
      rmSync(first.dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
