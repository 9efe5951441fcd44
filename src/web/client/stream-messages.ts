/**
 * What the log stream's frames and refused upgrades mean, and how long to wait before reconnecting: the
 * decisions of stream.ts that need no socket, no timer and no DOM. Pure.
 */
import type { LogEntry } from "../../logs/entry.ts";
import { isRecord } from "./api.ts";

export interface GapNotice {
  requested: string;
  resumed_from: string;
  message: string;
}

/** Answer to a plain GET of the stream URL: what the server says before any upgrade. */
export interface ProbeAnswer {
  status: number;
  body: string;
}

export const FIRST_RETRY_MS = 500;
export const MAX_RETRY_MS = 10_000;

/** Delay before reconnect attempt `attempt` (0-based): doubling from 0.5 s to 10 s, ±20 % so a restarted server is not hit by every page at once. */
export function retryDelay(attempt: number, random: number): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.8 + 0.4 * random));
}

export type StreamMessage =
  | { kind: "entry"; entry: LogEntry }
  | { kind: "live" }
  | { kind: "gap"; notice: GapNotice }
  | { kind: "error"; message: string }
  | { kind: "unknown" };

/** Classifies one text frame; anything unexpected is `unknown` rather than an exception. */
export function parseStreamMessage(text: string): StreamMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: "unknown" };
  }
  if (!isRecord(value)) return { kind: "unknown" };
  if (typeof value.control === "string") {
    if (value.control === "live") return { kind: "live" };
    if (value.control === "gap")
      return {
        kind: "gap",
        notice: {
          requested: String(value.requested ?? ""),
          resumed_from: String(value.resumed_from ?? ""),
          message: String(value.message ?? "entries before resumed_from are no longer retained"),
        },
      };
    return { kind: "unknown" };
  }
  if (typeof value.error === "string" && value.level === undefined)
    return { kind: "error", message: value.error };
  if (
    typeof value.timestamp === "string" &&
    typeof value.level === "string" &&
    typeof value.message === "string"
  )
    return { kind: "entry", entry: value as unknown as LogEntry };
  return { kind: "unknown" };
}

function errorOf(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (isRecord(parsed) && typeof parsed.error === "string") return parsed.error;
  } catch {
    // Not the JSON error shape: show the text itself.
  }
  return body.slice(0, 200) || "refused";
}

/** What a refused upgrade means, from the HTTP answer to the same URL (null: the server is unreachable). */
export type Refusal =
  | { kind: "unauthorized" }
  | { kind: "failed"; message: string }
  | { kind: "retry"; reason: string };

/** 401 asks for a sign-in and 400/403 are final (reconnecting cannot help); anything else is retried. */
export function classifyRefusal(answer: ProbeAnswer | null): Refusal {
  if (answer === null) return { kind: "retry", reason: "server unreachable" };
  if (answer.status === 401) return { kind: "unauthorized" };
  if (answer.status === 400 || answer.status === 403)
    return { kind: "failed", message: errorOf(answer.body) };
  return { kind: "retry", reason: `server answered ${answer.status}` };
}
