/**
 * One relay delivery as the dashboard reads it: the shape `GET /logs/api/deliveries` answers with, how its
 * body and outputs are put into words, and the detail the page shows of it. Bodies are text, never interpreted.
 */
import { isRecord } from "./api.ts";
import { h } from "./dom.ts";

export interface Delivery {
  id: string;
  bucket_id: string;
  bucket_name: string;
  input_id: string;
  method: string;
  query: string;
  headers: Record<string, string[]>;
  body: string;
  body_encoding?: "base64";
  received_at: string;
  source_ip: string;
  input_name?: string;
  /** The body is a preview: the first part of `body_bytes` bytes. */
  body_truncated?: boolean;
  body_bytes?: number;
  /** Set on a delivery re-sent from a stored one: the original's id. */
  replay_of?: string;
  /** How hookstream's own deliveries of it to the bucket's outputs went. */
  outputs?: OutputOutcome[];
}

export interface OutputOutcome {
  name: string;
  destination: string;
  state: string;
  attempts: number;
  status: number | null;
  error: string | null;
  next_attempt_at: string | null;
}

/** One line per output: where it stands, the last answer, and when it is tried next. */
export function describeOutcome(outcome: OutputOutcome): string {
  const answer = outcome.status === null ? "" : ` · HTTP ${outcome.status}`;
  // A 5xx or 4xx is its own error: say it once.
  const error =
    outcome.error === null || outcome.error === `HTTP ${outcome.status}` ? "" : ` · ${outcome.error}`;
  const tries = `${outcome.attempts} ${outcome.attempts === 1 ? "attempt" : "attempts"}`;
  const next = outcome.next_attempt_at === null ? "" : ` · next ${outcome.next_attempt_at}`;
  return `${outcome.state}${answer}${error} · ${tries}${next} → ${outcome.destination}`;
}

export interface DeliveriesAnswer {
  buckets: Array<{ id: string; name: string }>;
  deliveries: Delivery[];
}

function isDelivery(value: unknown): value is Delivery {
  return (
    isRecord(value) &&
    typeof value.id === "string" &&
    typeof value.method === "string" &&
    typeof value.body === "string" &&
    isRecord(value.headers)
  );
}

export function isDeliveriesAnswer(value: unknown): value is DeliveriesAnswer {
  return (
    isRecord(value) &&
    Array.isArray(value.buckets) &&
    value.buckets.every((b) => isRecord(b) && typeof b.id === "string" && typeof b.name === "string") &&
    Array.isArray(value.deliveries) &&
    value.deliveries.every(isDelivery)
  );
}

/** Most body characters put on screen; a 25 MiB body would freeze the tab. */
export const MAX_BODY_CHARS = 256 * 1024;

export interface ShownBody {
  text: string;
  note: string;
}

/** The body as text: base64 decoded when it is UTF-8, JSON indented, long bodies cut with a note. */
export function showBody(delivery: Pick<Delivery, "body" | "body_encoding">): ShownBody {
  let text = delivery.body;
  let note = "";
  if (delivery.body_encoding === "base64") {
    const binary = atob(delivery.body);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return {
        text: delivery.body.slice(0, MAX_BODY_CHARS),
        note: `binary body, ${bytes.length.toLocaleString("en")} bytes, shown as base64`,
      };
    }
  }
  if (text.length <= 1024 * 1024 && /^\s*[[{]/.test(text)) {
    try {
      text = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Not JSON after all: shown as received.
    }
  }
  if (text.length > MAX_BODY_CHARS) {
    note = `${(text.length - MAX_BODY_CHARS).toLocaleString("en")} more characters not shown`;
    text = text.slice(0, MAX_BODY_CHARS);
  }
  return { text, note };
}

/** First value of a header, by name in any case. */
export function headerValue(delivery: Pick<Delivery, "headers">, name: string): string {
  const wanted = name.toLowerCase();
  for (const [key, values] of Object.entries(delivery.headers))
    if (key.toLowerCase() === wanted && Array.isArray(values)) return String(values[0] ?? "");
  return "";
}

/** Bytes received: the server's count when it sent a preview, else the body's own size. */
export function sizeOf(delivery: Delivery): number {
  if (typeof delivery.body_bytes === "number") return delivery.body_bytes;
  return delivery.body_encoding === "base64"
    ? Math.floor((delivery.body.length * 3) / 4) - (delivery.body.match(/=+$/)?.[0].length ?? 0)
    : new TextEncoder().encode(delivery.body).length;
}

/**
 * What the page shows of one delivery: facts, headers and body (as the server masked them), and for a
 * GitHub delivery a button to the log of its processing (its X-GitHub-Delivery is the processor's hook id).
 */
export function buildDeliveryDetail(delivery: Delivery, onHook?: (hookId: string) => void): HTMLElement[] {
  const facts = h("dl", { class: "fields" });
  const fact = (label: string, value: string) =>
    facts.append(
      h("div", { class: "field-item" }, h("dt", { text: label }), h("dd", { text: value || "—" })),
    );
  fact("delivery", delivery.id);
  fact("bucket", `${delivery.bucket_name} (${delivery.bucket_id})`);
  fact("input", delivery.input_name ? `${delivery.input_name} (${delivery.input_id})` : delivery.input_id);
  fact("method", delivery.method);
  fact("received", delivery.received_at);
  fact("source", delivery.source_ip);
  fact("query", delivery.query);
  if (delivery.replay_of !== undefined) fact("replay of", delivery.replay_of);
  for (const outcome of Array.isArray(delivery.outputs) ? delivery.outputs : [])
    fact(`output ${outcome.name}`, describeOutcome(outcome));
  const rows = Object.entries(delivery.headers).map(([name, values]) =>
    h(
      "tr",
      {},
      h("th", { text: name, attrs: { scope: "row" } }),
      h("td", { text: Array.isArray(values) ? values.join(", ") : String(values) }),
    ),
  );
  const body = showBody(delivery);
  if (delivery.body_truncated === true)
    body.note = [
      `the server sent a preview: ${typeof delivery.body_bytes === "number" ? delivery.body_bytes.toLocaleString("en") : "more"} bytes were received`,
      body.note,
    ]
      .filter(Boolean)
      .join("; ");
  const hookId = headerValue(delivery, "X-GitHub-Delivery");
  let processing: HTMLElement | null = null;
  if (hookId !== "" && onHook !== undefined) {
    processing = h("button", {
      class: "quiet hook-link",
      text: `Its processing: log and flow of hook ${hookId}`,
      attrs: { type: "button" },
    });
    processing.addEventListener("click", () => onHook(hookId));
  }
  return [
    h("h3", { text: `${delivery.method} ${delivery.received_at}` }),
    ...(processing === null ? [] : [h("div", { class: "flow-actions" }, processing)]),
    facts,
    h(
      "table",
      { class: "headers" },
      h("caption", { text: "Headers" }),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { text: "Name", attrs: { scope: "col" } }),
          h("th", { text: "Values", attrs: { scope: "col" } }),
        ),
      ),
      h("tbody", {}, ...rows),
    ),
    h("h4", { text: "Body" }),
    ...(body.note === "" ? [] : [h("p", { class: "muted", text: body.note })]),
    h("pre", { class: "body", text: body.text, attrs: { tabindex: "0", "aria-label": "Delivery body" } }),
  ];
}
