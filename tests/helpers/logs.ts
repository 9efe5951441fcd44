/** Helpers for log-stream tests: line builders and a client that is subscribed before it returns. */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import type { TestServer } from "./server.ts";
import { type TestSocket, waitFor, wsConnect } from "./ws.ts";

export interface LineFields {
  seq: number;
  level?: string;
  repository?: string;
  event?: string;
  hook?: string;
  user?: string;
  pr?: number;
}

/** A text log line as github-webhook-server writes it; `message` is `msg <seq>` so order can be checked. */
export function textLine(f: LineFields): string {
  const micros = String(f.seq % 1_000_000).padStart(6, "0");
  const pr = f.pr === undefined ? "" : `[PR ${f.pr}]`;
  return `2026-11-23T10:00:00.${micros} GithubWebhook ${f.level ?? "INFO"} ${f.repository ?? "org/repo"} [${f.event ?? "pull_request"}][${f.hook ?? "hook-1"}][${f.user ?? "octocat"}]${pr}: msg ${f.seq}\n`;
}

/** A JSON `log_entry` line. */
export function jsonLine(f: LineFields): string {
  return `${JSON.stringify({
    type: "log_entry",
    timestamp: "2026-11-23T10:00:00.000000+00:00",
    level: f.level ?? "INFO",
    logger_name: "GithubWebhook",
    message: `msg ${f.seq}`,
    hook_id: f.hook ?? "hook-1",
    event_type: f.event ?? "pull_request",
    repository: f.repository ?? "org/repo",
    pr_number: f.pr ?? null,
    api_user: f.user ?? "octocat",
  })}\n`;
}

export function append(server: TestServer, name: string, text: string | Uint8Array): void {
  appendFileSync(join(server.logDir, name), text);
}

async function subscriberCount(server: TestServer): Promise<number> {
  const health = (await (await fetch(server.httpUrl("/health"))).json()) as { logs: { subscribers: number } };
  return health.logs.subscribers;
}

/** Connects to `/logs/ws?query` and returns once the server has registered the subscription. */
export async function connectLogs(server: TestServer, query = ""): Promise<TestSocket> {
  const before = await subscriberCount(server);
  const client = await wsConnect(server.wsUrl(`/logs/ws${query ? `?${query}` : ""}`));
  await waitFor(async () => (await subscriberCount(server)) > before, 5000, "subscription");
  return client;
}

/** The sequence number in a streamed entry's message (`msg <seq>`). */
export function seqOf(message: string): number {
  const entry = JSON.parse(message) as { message: string };
  return Number(entry.message.replace(/^msg /, ""));
}
