/**
 * The webhook tab: the relay's recent deliveries per bucket from `GET /logs/api/deliveries`, each with its
 * headers and body. Refreshes every few seconds while shown. Bodies are shown as text (JSON pretty-printed),
 * never interpreted.
 */
import { type Api, isRecord } from "./api.ts";
import { byId, clear, h } from "./dom.ts";

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

/** The server's answer to a replay: the copy's id. */
function isReplayed(value: unknown): value is { id: string; replay_of: string } {
  return isRecord(value) && typeof value.id === "string" && typeof value.replay_of === "string";
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
const REFRESH_MS = 5_000;
const DELIVERY_LIMIT = 50;

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
function sizeOf(delivery: Delivery): number {
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

export interface WebhooksView {
  show(): void;
  hide(): void;
}

export interface WebhooksViewOptions {
  /** Opens the log and flow of the processing of a GitHub delivery (its hook id). */
  onHook(hookId: string): void;
}

export function createWebhooksView(api: Api, options: WebhooksViewOptions): WebhooksView {
  const bucketSelect = byId("bucket", HTMLSelectElement);
  const refreshButton = byId("deliveries-refresh", HTMLButtonElement);
  const auto = byId("deliveries-auto", HTMLInputElement);
  const status = byId("deliveries-status", HTMLElement);
  const listElement = byId("deliveries-list", HTMLUListElement);
  const detail = byId("delivery-detail", HTMLElement);

  let deliveries: Delivery[] = [];
  let selected: string | null = null;
  let timer: number | null = null;
  let visible = false;
  let loading = false;

  /** The server answers one bucket at a time; asked for none, it picks the first it lists. */
  const renderBuckets = (buckets: DeliveriesAnswer["buckets"]) => {
    const current = bucketSelect.value;
    bucketSelect.replaceChildren(
      ...buckets.map((bucket) => h("option", { text: bucket.name, attrs: { value: bucket.name } })),
    );
    bucketSelect.value = buckets.some((bucket) => bucket.name === current)
      ? current
      : (buckets[0]?.name ?? "");
    bucketSelect.disabled = buckets.length === 0;
  };

  const renderDetail = () => {
    clear(detail);
    const delivery = deliveries.find((d) => d.id === selected);
    if (delivery === undefined) {
      detail.appendChild(h("p", { class: "muted", text: "Select a delivery to see its headers and body." }));
      return;
    }
    const [heading, ...rest] = buildDeliveryDetail(delivery, options.onHook);
    detail.append(
      ...(heading === undefined ? [] : [heading]),
      h(
        "p",
        { class: "replay" },
        h("button", { text: "Replay", attrs: { type: "button", id: "delivery-replay" } }),
        h("span", { class: "muted", text: " re-sends it to the bucket's subscribers, marked as a replay" }),
      ),
      ...rest,
    );
  };

  const renderList = () => {
    const active = document.activeElement;
    const focusedId =
      active instanceof HTMLElement && listElement.contains(active) ? active.dataset.deliveryId : undefined;
    clear(listElement);
    if (deliveries.length === 0) {
      listElement.appendChild(h("li", { class: "muted", text: "No deliveries yet." }));
      return;
    }
    for (const delivery of deliveries) {
      const chosen = delivery.id === selected;
      listElement.appendChild(
        h(
          "li",
          {},
          h(
            "button",
            {
              class: `delivery${chosen ? " selected" : ""}`,
              attrs: { type: "button", "aria-current": String(chosen) },
              data: { deliveryId: delivery.id },
            },
            h("span", { class: "method", text: delivery.method }),
            h("span", { class: "when", text: delivery.received_at }),
            h("span", { class: "bucket", text: delivery.bucket_name }),
            h("span", {
              class: "size muted",
              text: [
                headerValue(delivery, "X-Github-Event"),
                `${sizeOf(delivery).toLocaleString("en")} bytes`,
              ]
                .filter(Boolean)
                .join(" · "),
            }),
          ),
        ),
      );
    }
    if (focusedId !== undefined)
      listElement.querySelector<HTMLElement>(`[data-delivery-id="${CSS.escape(focusedId)}"]`)?.focus();
  };

  const load = async () => {
    if (loading) return;
    loading = true;
    refreshButton.disabled = true;
    const params = new URLSearchParams({ limit: String(DELIVERY_LIMIT) });
    if (bucketSelect.value !== "") params.set("bucket", bucketSelect.value);
    const result = await api.get(`/logs/api/deliveries?${params}`, isDeliveriesAnswer);
    loading = false;
    refreshButton.disabled = false;
    if (!result.ok) {
      // A 404 of the app itself ("Not found") means no such API; the API's own 404 names the bucket.
      const message =
        result.status === 404 && result.message === "Not found"
          ? "Webhook deliveries are not available on this server."
          : result.status === 403 || result.status === 404
            ? result.message
            : `Could not load deliveries: ${result.message}`;
      status.textContent = message;
      // Deliveries already shown stay (a refresh failed); with none, the list says why it is empty.
      if (deliveries.length === 0) listElement.replaceChildren(h("li", { class: "muted", text: message }));
      return;
    }
    renderBuckets(result.data.buckets);
    deliveries = result.data.deliveries;
    if (result.data.buckets.length === 0) {
      status.textContent = "No buckets yet: create one with `bun run cli bucket create <name>`.";
      listElement.replaceChildren(h("li", { class: "muted", text: "No deliveries yet." }));
      renderDetail();
      return;
    }
    if (selected === null || !deliveries.some((d) => d.id === selected)) selected = deliveries[0]?.id ?? null;
    status.textContent = `${deliveries.length} recent deliver${deliveries.length === 1 ? "y" : "ies"}, updated ${new Date().toLocaleTimeString()}`;
    renderList();
    renderDetail();
  };

  const schedule = () => {
    if (timer !== null) window.clearTimeout(timer);
    timer = null;
    if (visible && auto.checked)
      timer = window.setTimeout(async () => {
        await load();
        schedule();
      }, REFRESH_MS);
  };

  refreshButton.addEventListener("click", () => void load());
  bucketSelect.addEventListener("change", () => {
    selected = null;
    void load();
  });
  auto.addEventListener("change", schedule);
  listElement.addEventListener("click", (event) => {
    if (!(event.target instanceof Element)) return;
    const button = event.target.closest<HTMLElement>("[data-delivery-id]");
    if (button === null) return;
    selected = button.dataset.deliveryId ?? null;
    for (const other of listElement.querySelectorAll<HTMLElement>("[data-delivery-id]")) {
      const chosen = other.dataset.deliveryId === selected;
      other.classList.toggle("selected", chosen);
      other.setAttribute("aria-current", String(chosen));
    }
    renderDetail();
  });

  /** Re-sends the shown delivery; the copy appears at the top of the list once it is stored. */
  const replay = async (button: HTMLButtonElement, delivery: Delivery) => {
    button.disabled = true;
    const path = `/logs/api/deliveries/${encodeURIComponent(delivery.bucket_id)}/${encodeURIComponent(delivery.id)}/replay`;
    const result = await api.post(path, isReplayed);
    button.disabled = false;
    if (!result.ok) {
      status.textContent = `Could not replay delivery ${delivery.id}: ${result.message}`;
      return;
    }
    selected = result.data.id;
    await load();
    status.textContent = `Delivery ${delivery.id} re-sent as delivery ${result.data.id}.`;
  };

  detail.addEventListener("click", (event) => {
    if (!(event.target instanceof HTMLButtonElement) || event.target.id !== "delivery-replay") return;
    const delivery = deliveries.find((d) => d.id === selected);
    if (delivery !== undefined) void replay(event.target, delivery);
  });

  renderDetail();

  return {
    show() {
      visible = true;
      void load();
      schedule();
    },
    hide() {
      visible = false;
      schedule();
    },
  };
}
