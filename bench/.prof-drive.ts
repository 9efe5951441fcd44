import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { cpuSeconds } from "./lib/proc.ts";
import { spawnRelayLoad } from "./lib/relay-load.ts";
import { BENCH_GITHUB_SECRET, startRelayServer } from "./lib/relay-servers.ts";

const name = (process.argv[2] ?? "hookstream") as "hookstream" | "nostore";
const ms = Number(process.argv[3] ?? 8000);
const scratch = mkdtempSync("/tmp/relayprof-");
const server = await startRelayServer(name, { cpu: "1", scratch, smeeDir: null });
const sub = spawnRelayLoad("subscribers", 0, "0");
sub.send({
  cmd: "subscribe",
  urls: [server.subscribe.url],
  key: server.subscribe.key,
  secret: server.subscribe.secret,
  concurrency: 1,
  protocol: server.subscribe.protocol,
});
await sub.next("subscribed", 10000);
const senders = [0, 1].map((i) => spawnRelayLoad("sender", i, "0"));
const go = async (dur: number, base: number) => {
  const c0 = cpuSeconds(server.pid);
  const r = await Promise.all(
    senders.map((w, i) => {
      w.send({
        cmd: "send",
        targets: [{ url: server.inputUrl, inflight: 8 }],
        durationMs: dur,
        firstSeq: base + i * 1e6,
        acceptedFile: join(scratch, `a${i}`),
        githubSecret: BENCH_GITHUB_SECRET,
      });
      return w.next("sent", dur + 30000);
    }),
  );
  const acc = r.reduce((s, x) => s + x.accepted, 0);
  const cpu = cpuSeconds(server.pid) - c0;
  return { perSec: acc / (dur / 1000), cpuUs: (cpu / acc) * 1e6, fail: r.map((x) => x.firstError) };
};
await go(1000, 0);
console.log(name, JSON.stringify(await go(ms, 1e7)));
for (const w of [...senders, sub]) await w.stop();
await server.stop();
process.exit(0);
