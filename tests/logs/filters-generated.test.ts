import { expect, test } from "bun:test";
import { append, connectLogs, seqOf } from "../helpers/logs.ts";
import { seededRandom } from "../helpers/random.ts";
import { startTestServer } from "../helpers/server.ts";

/** Values each filter field takes in the generated records (`pr_number` also null). */
const VALUES = {
  hook_id: ["h0", "h1", "h2", "h3"],
  repository: ["org/r0", "org/r1", "org/r2"],
  event_type: ["push", "pull_request"],
  github_user: ["u0", "u1"],
  level: ["INFO", "ERROR", "DEBUG"],
  pr_number: ["0", "1", "2"],
} as const;
type Field = keyof typeof VALUES;
const FIELDS = Object.keys(VALUES) as Field[];

test("generated filter combinations: the live stream and history both select exactly the matching records", async () => {
  const random = seededRandom(11);
  const pick = (field: Field) => VALUES[field][random(VALUES[field].length)] as string;
  await using server = await startTestServer({ files: { "webhooks_2026-11-23.json": "" } });
  const combos = Array.from({ length: 14 }, () => {
    const combo: Partial<Record<Field, string>> = {};
    for (const field of FIELDS) if (random(3) === 0) combo[field] = pick(field);
    return combo;
  });
  const everything = await connectLogs(server, "");
  const clients = [];
  for (const combo of combos) clients.push(await connectLogs(server, new URLSearchParams(combo).toString()));

  const records = Array.from({ length: 300 }, (_, seq) => ({
    seq,
    hook_id: pick("hook_id"),
    repository: pick("repository"),
    event_type: pick("event_type"),
    github_user: pick("github_user"),
    level: pick("level"),
    pr_number: random(4) === 0 ? null : Number(pick("pr_number")),
  }));
  const lines = records.map((r) =>
    JSON.stringify({
      type: "log_entry",
      timestamp: new Date(Date.UTC(2026, 10, 23, 10, 0, 0) + r.seq * 10).toISOString(),
      level: r.level,
      logger_name: "GithubWebhook",
      message: `msg ${r.seq}`,
      hook_id: r.hook_id,
      event_type: r.event_type,
      repository: r.repository,
      pr_number: r.pr_number,
      api_user: r.github_user,
    }),
  );
  append(server, "webhooks_2026-11-23.json", `${lines.join("\n")}\n`);
  await everything.take(records.length, 10_000);

  const problems: string[] = [];
  for (const [i, combo] of combos.entries()) {
    const matching = records
      .filter((r) => Object.entries(combo).every(([field, value]) => String(r[field as Field]) === value))
      .map((r) => r.seq);
    const live = (await (clients[i] as (typeof clients)[number]).take(matching.length, 5_000)).map(seqOf);
    const query = new URLSearchParams({ ...combo, limit: "10000" });
    const page = (await (await fetch(server.httpUrl(`/logs/api/entries?${query}`))).json()) as {
      entries: { message: string }[];
    };
    // History answers newest first.
    const history = page.entries.map((e) => Number(e.message.replace(/^msg /, ""))).reverse();
    if (JSON.stringify(live) !== JSON.stringify(matching))
      problems.push(`live ${query}: ${live.length} entries, ${matching.length} expected`);
    if (JSON.stringify(history) !== JSON.stringify(matching))
      problems.push(`history ${query}: ${history.length} entries, ${matching.length} expected`);
  }
  // Nothing beyond the matching records reached any filtered client.
  await Bun.sleep(200);
  for (const [i, client] of clients.entries())
    if (client.pending() > 0) problems.push(`client ${i}: ${client.pending()} entries too many`);
  expect(problems).toEqual([]);
}, 30_000);
