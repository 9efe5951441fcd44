/**
 * In a hook's flow, the webhook that caused it: the delivery hookstream relayed whose X-GitHub-Delivery is
 * the hook id (`GET /logs/api/deliveries?hook_id=`), with headers and body as the Webhooks tab shows them
 * (masked by the server); or a sentence saying hookstream did not relay it.
 */
import type { Api } from "./api.ts";
import { buildDeliveryDetail, isDeliveriesAnswer } from "./delivery.ts";
import { clear, h } from "./dom.ts";

export async function describeWebhook(api: Api, hookId: string, into: HTMLElement): Promise<void> {
  const heading = h("h3", { text: "The webhook behind it" });
  into.append(heading, h("p", { class: "muted", text: "Looking for the relayed delivery…" }));
  const answer = await api.get(
    `/logs/api/deliveries?hook_id=${encodeURIComponent(hookId)}`,
    isDeliveriesAnswer,
  );
  clear(into);
  into.append(heading);
  if (!answer.ok) {
    into.append(
      h("p", {
        class: "muted",
        text:
          answer.status === 404
            ? "This server relays no webhooks, so it cannot show the one behind this hook."
            : `Could not look for the relayed delivery: ${answer.message}`,
      }),
    );
    return;
  }
  const [delivery] = answer.data.deliveries;
  if (delivery === undefined) {
    into.append(
      h("p", {
        class: "not-relayed",
        text: `hookstream did not relay this webhook: no stored delivery has X-GitHub-Delivery ${hookId} (it was sent to the processor directly, or retention removed it).`,
      }),
    );
    return;
  }
  const detail = h("div", { class: "delivery-detail" });
  detail.append(...buildDeliveryDetail(delivery));
  into.append(detail);
}
