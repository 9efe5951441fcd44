/** Log lines for the page tests: text lines 10 ms apart, so history's time order equals write order. */
export interface TimedLineFields {
  level?: string;
  repository?: string;
  event?: string;
  hook?: string;
  user?: string;
  pr?: number;
  message?: string;
}

const BASE_MS = Date.parse("2026-11-23T10:00:00.000Z");

export function timestampOf(seq: number): string {
  return new Date(BASE_MS + seq * 10).toISOString().replace("Z", "000Z");
}

/** `<timestamp> GithubWebhook LEVEL repo [event][hook][user][PR n]: msg <seq>` */
export function timedLine(seq: number, f: TimedLineFields = {}): string {
  const pr = f.pr === undefined ? "" : `[PR ${f.pr}]`;
  return `${timestampOf(seq)} GithubWebhook ${f.level ?? "INFO"} ${f.repository ?? "org/repo"} [${f.event ?? "pull_request"}][${f.hook ?? "hook-1"}][${f.user ?? "octocat"}]${pr}: ${f.message ?? `msg ${seq}`}\n`;
}

export function timedLines(from: number, to: number, f: TimedLineFields = {}): string {
  let text = "";
  for (let seq = from; seq < to; seq++) text += timedLine(seq, f);
  return text;
}
