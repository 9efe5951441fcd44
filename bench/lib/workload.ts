/**
 * The benchmark's log line: a github-webhook-server `log_entry` JSON line of about 300 bytes whose message
 * carries a sequence number and the wall-clock time of the append, at fixed offsets so that every client
 * (hookstream's re-serialised entry, or the raw line a peer sends) finds them with one `indexOf`.
 */

/** The file every server follows; hookstream reads `webhooks_*.json` as JSON lines. */
export const LOG_FILE_NAME = "webhooks_2026-11-23.json";

/** Milliseconds since the epoch with microsecond resolution, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

const SEQ_DIGITS = 10;
const TIME_CHARS = 17; // 1795405185889.317
const MARK = "seq=";
const PAD = "x".repeat(64);

function mark(seq: number, sentMs: number): string {
  return `${MARK}${String(seq).padStart(SEQ_DIGITS, "0")} t=${sentMs.toFixed(3).padStart(TIME_CHARS, "0")}`;
}

/** One line, newline included. `sentMs` is stamped by the writer at the moment of the append. */
export function makeLine(seq: number, sentMs: number): string {
  const hook = seq % 16;
  return (
    `{"type":"log_entry","timestamp":"2026-11-23T10:00:00.123456+00:00","level":"INFO",` +
    `"logger_name":"GithubWebhook","message":"bench ${mark(seq, sentMs)} processing ${PAD}",` +
    `"hook_id":"hook-${hook}","event_type":"pull_request","repository":"org/repo","pr_number":${12 + hook},` +
    `"api_user":"bot"}\n`
  );
}

export interface Mark {
  seq: number;
  sentMs: number;
}

/** The sequence number and send time inside a received message; null when it carries none. */
export function readMark(text: string): Mark | null {
  const at = text.indexOf(MARK);
  if (at === -1) return null;
  const seqStart = at + MARK.length;
  const timeStart = seqStart + SEQ_DIGITS + 3;
  return {
    seq: Number(text.slice(seqStart, seqStart + SEQ_DIGITS)),
    sentMs: Number(text.slice(timeStart, timeStart + TIME_CHARS)),
  };
}
