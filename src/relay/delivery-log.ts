/**
 * The `/logs/ws` entry for a delivery. The payload is read only for context fields, only when small and
 * declared as JSON (or GitHub's form encoding, `payload=<json>`); a payload that does not parse still yields
 * an entry, with those fields null. Pure (the lazy fields read only the facts given).
 */
import { type LogEntry, RELAY_LOGGER_NAME } from "../logs/entry.ts";

/** Larger payloads are not parsed for context: parsing runs on the request path of every delivery. */
export const MAX_PARSED_PAYLOAD_BYTES = 1024 * 1024;

export interface DeliveryFacts {
  deliveryId: string;
  bucketName: string;
  headers: Record<string, string[]>;
  body: Uint8Array;
  receivedAt: number;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const stringAt = (value: unknown): string | null => (typeof value === "string" ? value : null);
const numberAt = (value: unknown): number | null =>
  typeof value === "number" && Number.isInteger(value) ? value : null;

function parsePayload(contentType: string | null, body: Uint8Array): Json | null {
  if (contentType === null || body.byteLength === 0 || body.byteLength > MAX_PARSED_PAYLOAD_BYTES)
    return null;
  const type = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  let text: string;
  if (type === "application/json" || type.endsWith("+json")) {
    text = new TextDecoder().decode(body);
  } else if (type === "application/x-www-form-urlencoded") {
    const payload = new URLSearchParams(new TextDecoder().decode(body)).get("payload");
    if (payload === null) return null;
    text = payload;
  } else {
    return null;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return isObject(parsed) ? parsed : null;
  } catch (error) {
    if (error instanceof SyntaxError) return null;
    throw error;
  }
}

/** The pull request number when the payload is about one: a PR event, or an issue event on a PR. */
export function pullRequestNumber(payload: Json, eventType: string | null): number | null {
  const pr = payload.pull_request;
  if (isObject(pr)) return numberAt(pr.number) ?? numberAt(payload.number);
  const issue = payload.issue;
  if (isObject(issue) && isObject(issue.pull_request)) return numberAt(issue.number);
  if (eventType?.startsWith("pull_request")) return numberAt(payload.number);
  return null;
}

/**
 * The payload-derived fields are getters, parsed once on first read: the hub reads them only when a
 * `/logs/ws` client filters on them or an entry is streamed, so with nobody watching the logs a delivery
 * costs no JSON parse (GitHub payloads are often tens of kilobytes). Getters in an object literal are
 * enumerable and keep their place, so the serialised field order is unchanged.
 */
export function deliveryLogEntry(facts: DeliveryFacts): LogEntry {
  const header = (name: string) => facts.headers[name]?.[0] ?? null;
  const eventType = header("X-Github-Event");
  let parsed: { payload: Json | null } | null = null;
  const payload = () => {
    parsed ??= { payload: parsePayload(header("Content-Type"), facts.body) };
    return parsed.payload;
  };
  return {
    timestamp: new Date(facts.receivedAt).toISOString(),
    level: "INFO",
    logger_name: RELAY_LOGGER_NAME,
    message: `Webhook ${eventType ?? "delivery"} received on bucket ${facts.bucketName} (${facts.body.byteLength} bytes)`,
    hook_id: header("X-Github-Delivery") ?? facts.deliveryId,
    event_type: eventType,
    get repository() {
      const repository = payload()?.repository;
      return isObject(repository) ? stringAt(repository.full_name) : null;
    },
    get pr_number() {
      const json = payload();
      return json === null ? null : pullRequestNumber(json, eventType);
    },
    get github_user() {
      const sender = payload()?.sender;
      return isObject(sender) ? stringAt(sender.login) : null;
    },
    task_id: null,
    task_type: null,
    task_status: null,
    token_spend: null,
  };
}
