/**
 * The webhook tab: the relay's recent deliveries per bucket from `GET /logs/api/deliveries`, each with its
 * headers and body. Refreshes every few seconds while shown. Bodies are shown as text (JSON pretty-printed),
 * never interpreted.
 */
import { type Api, isRecord } from "./api.ts";
import {
  buildDeliveryDetail,
  type DeliveriesAnswer,
  type Delivery,
  headerValue,
  isDeliveriesAnswer,
  sizeOf,
} from "./delivery.ts";
import { byId, clear, h } from "./dom.ts";

export {
  buildDeliveryDetail,
  type DeliveriesAnswer,
  type Delivery,
  describeOutcome,
  headerValue,
  isDeliveriesAnswer,
  MAX_BODY_CHARS,
  type OutputOutcome,
  type ShownBody,
  showBody,
} from "./delivery.ts";

const REFRESH_MS = 5_000;
const DELIVERY_LIMIT = 50;

/** The server's answer to a replay: the copy's id. */
function isReplayed(value: unknown): value is { id: string; replay_of: string } {
  return isRecord(value) && typeof value.id === "string" && typeof value.replay_of === "string";
}

export interface WebhooksView {
  show(): void;
  hide(): void;
}

export interface WebhooksViewOptions {
  /** Opens the log and flow of the processing of a GitHub delivery (its hook id). */
  onHook(hookId: string): void;
}

/** The recent deliveries of one bucket; with none named the server picks the first it lists. */
export function deliveriesPath(bucket: string): string {
  const params = new URLSearchParams({ limit: String(DELIVERY_LIMIT) });
  if (bucket !== "") params.set("bucket", bucket);
  return `/logs/api/deliveries?${params}`;
}

export function replayPath(delivery: Pick<Delivery, "bucket_id" | "id">): string {
  return `/logs/api/deliveries/${encodeURIComponent(delivery.bucket_id)}/${encodeURIComponent(delivery.id)}/replay`;
}

/** The selection survives a refresh while its delivery is still listed; otherwise the newest is shown. */
export function keepSelection(deliveries: Pick<Delivery, "id">[], selected: string | null): string | null {
  if (selected !== null && deliveries.some((d) => d.id === selected)) return selected;
  return deliveries[0]?.id ?? null;
}

/** Asks the server to re-send a delivery, with its button disabled meanwhile. */
async function postReplay(api: Api, button: HTMLButtonElement, delivery: Delivery) {
  button.disabled = true;
  const result = await api.post(replayPath(delivery), isReplayed);
  button.disabled = false;
  return result;
}

/** Why the deliveries could not be loaded, in the words the tab shows. */
export function loadFailure(status: number, message: string): string {
  // A 404 of the app itself ("Not found") means no such API; the API's own 404 names the bucket.
  if (status === 404 && message === "Not found")
    return "Webhook deliveries are not available on this server.";
  if (status === 403 || status === 404) return message;
  return `Could not load deliveries: ${message}`;
}

/** The server answers one bucket at a time; asked for none, it picks the first it lists. */
function fillBuckets(select: HTMLSelectElement, buckets: DeliveriesAnswer["buckets"]): void {
  const current = select.value;
  select.replaceChildren(
    ...buckets.map((bucket) => h("option", { text: bucket.name, attrs: { value: bucket.name } })),
  );
  select.value = buckets.some((bucket) => bucket.name === current) ? current : (buckets[0]?.name ?? "");
  select.disabled = buckets.length === 0;
}

/** One delivery in the list: method, time, bucket, GitHub event and size. */
function deliveryItem(delivery: Delivery, chosen: boolean): HTMLElement {
  return h(
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
        text: [headerValue(delivery, "X-Github-Event"), `${sizeOf(delivery).toLocaleString("en")} bytes`]
          .filter(Boolean)
          .join(" · "),
      }),
    ),
  );
}

/** Moves the selection mark without rebuilding the list, so focus stays where it is. */
function markSelected(list: HTMLElement, selected: string | null): void {
  for (const item of list.querySelectorAll<HTMLElement>("[data-delivery-id]")) {
    const chosen = item.dataset.deliveryId === selected;
    item.classList.toggle("selected", chosen);
    item.setAttribute("aria-current", String(chosen));
  }
}

/** The shown delivery with its Replay button under the heading, or a prompt to pick one. */
function renderDeliveryDetail(
  detail: HTMLElement,
  delivery: Delivery | undefined,
  onHook: (hookId: string) => void,
): void {
  clear(detail);
  if (delivery === undefined) {
    detail.appendChild(h("p", { class: "muted", text: "Select a delivery to see its headers and body." }));
    return;
  }
  const [heading, ...rest] = buildDeliveryDetail(delivery, onHook);
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
}

/** Rebuilds the list; the delivery that had keyboard focus keeps it across a refresh. */
function renderDeliveryList(list: HTMLElement, deliveries: Delivery[], selected: string | null): void {
  const active = document.activeElement;
  const focusedId =
    active instanceof HTMLElement && list.contains(active) ? active.dataset.deliveryId : undefined;
  clear(list);
  if (deliveries.length === 0) {
    list.appendChild(h("li", { class: "muted", text: "No deliveries yet." }));
    return;
  }
  for (const delivery of deliveries) list.appendChild(deliveryItem(delivery, delivery.id === selected));
  if (focusedId !== undefined)
    list.querySelector<HTMLElement>(`[data-delivery-id="${CSS.escape(focusedId)}"]`)?.focus();
}

/** The tab's elements and what it shows; the functions below read and move it. */
interface Tab {
  api: Api;
  onHook(hookId: string): void;
  bucketSelect: HTMLSelectElement;
  refreshButton: HTMLButtonElement;
  auto: HTMLInputElement;
  status: HTMLElement;
  list: HTMLUListElement;
  detail: HTMLElement;
  deliveries: Delivery[];
  selected: string | null;
  /** The next automatic refresh, while the tab is shown with auto-refresh on. */
  timer: number | null;
  visible: boolean;
  loading: boolean;
}

const shownDelivery = (tab: Tab) => tab.deliveries.find((d) => d.id === tab.selected);
const renderDetail = (tab: Tab) => renderDeliveryDetail(tab.detail, shownDelivery(tab), tab.onHook);

/** Loads the chosen bucket's deliveries and shows them; one load at a time. */
async function loadDeliveries(tab: Tab): Promise<void> {
  if (tab.loading) return;
  tab.loading = true;
  tab.refreshButton.disabled = true;
  const result = await tab.api.get(deliveriesPath(tab.bucketSelect.value), isDeliveriesAnswer);
  tab.loading = false;
  tab.refreshButton.disabled = false;
  if (!result.ok) {
    const message = loadFailure(result.status, result.message);
    tab.status.textContent = message;
    // Deliveries already shown stay (a refresh failed); with none, the list says why it is empty.
    if (tab.deliveries.length === 0) tab.list.replaceChildren(h("li", { class: "muted", text: message }));
    return;
  }
  fillBuckets(tab.bucketSelect, result.data.buckets);
  tab.deliveries = result.data.deliveries;
  if (result.data.buckets.length === 0) {
    tab.status.textContent = "No buckets yet: create one with `bun run cli bucket create <name>`.";
    tab.list.replaceChildren(h("li", { class: "muted", text: "No deliveries yet." }));
    renderDetail(tab);
    return;
  }
  const { deliveries } = tab;
  tab.selected = keepSelection(deliveries, tab.selected);
  tab.status.textContent = `${deliveries.length} recent deliver${deliveries.length === 1 ? "y" : "ies"}, updated ${new Date().toLocaleTimeString()}`;
  renderDeliveryList(tab.list, deliveries, tab.selected);
  renderDetail(tab);
}

/** Plans the next automatic refresh, or none while hidden or with auto-refresh off. */
function scheduleRefresh(tab: Tab): void {
  if (tab.timer !== null) window.clearTimeout(tab.timer);
  tab.timer = null;
  if (tab.visible && tab.auto.checked)
    tab.timer = window.setTimeout(async () => {
      await loadDeliveries(tab);
      scheduleRefresh(tab);
    }, REFRESH_MS);
}

/** Re-sends the shown delivery; the copy appears at the top of the list once it is stored. */
async function replayDelivery(tab: Tab, button: HTMLButtonElement, delivery: Delivery): Promise<void> {
  const result = await postReplay(tab.api, button, delivery);
  if (!result.ok) {
    tab.status.textContent = `Could not replay delivery ${delivery.id}: ${result.message}`;
    return;
  }
  tab.selected = result.data.id;
  await loadDeliveries(tab);
  tab.status.textContent = `Delivery ${delivery.id} re-sent as delivery ${result.data.id}.`;
}

/** Refresh, bucket, auto-refresh, a click on a delivery and the Replay button. */
function listenToControls(tab: Tab): void {
  tab.refreshButton.addEventListener("click", () => void loadDeliveries(tab));
  tab.bucketSelect.addEventListener("change", () => {
    tab.selected = null;
    void loadDeliveries(tab);
  });
  tab.auto.addEventListener("change", () => scheduleRefresh(tab));
  tab.list.addEventListener("click", (event) => {
    if (!(event.target instanceof Element)) return;
    const button = event.target.closest<HTMLElement>("[data-delivery-id]");
    if (button === null) return;
    tab.selected = button.dataset.deliveryId ?? null;
    markSelected(tab.list, tab.selected);
    renderDetail(tab);
  });
  tab.detail.addEventListener("click", (event) => {
    if (!(event.target instanceof HTMLButtonElement) || event.target.id !== "delivery-replay") return;
    const delivery = shownDelivery(tab);
    if (delivery !== undefined) void replayDelivery(tab, event.target, delivery);
  });
}

export function createWebhooksView(api: Api, options: WebhooksViewOptions): WebhooksView {
  const tab: Tab = {
    api,
    onHook: options.onHook,
    bucketSelect: byId("bucket", HTMLSelectElement),
    refreshButton: byId("deliveries-refresh", HTMLButtonElement),
    auto: byId("deliveries-auto", HTMLInputElement),
    status: byId("deliveries-status", HTMLElement),
    list: byId("deliveries-list", HTMLUListElement),
    detail: byId("delivery-detail", HTMLElement),
    deliveries: [],
    selected: null,
    timer: null,
    visible: false,
    loading: false,
  };
  listenToControls(tab);
  renderDetail(tab);
  return {
    show() {
      tab.visible = true;
      void loadDeliveries(tab);
      scheduleRefresh(tab);
    },
    hide() {
      tab.visible = false;
      scheduleRefresh(tab);
    },
  };
}
