/** A delivery as the relay bench's senders make it, the way an input hands it to a store. */
import type { NewDelivery } from "../../src/relay/store.ts";
import { payload } from "../relay.ts";

export function benchDelivery(bucketId: string, inputId: string, seq: number): NewDelivery {
  const body = new TextEncoder().encode(payload(seq));
  return {
    bucketId,
    inputId,
    githubDelivery: crypto.randomUUID(),
    method: "POST",
    // What the bench's senders send, as collectHeaders keeps it.
    headers: {
      "Content-Type": ["application/json"],
      "X-Github-Event": ["pull_request"],
      "X-Github-Delivery": [crypto.randomUUID()],
      "X-Hub-Signature-256": [`sha256=${"0".repeat(64)}`],
      "Content-Length": [String(body.byteLength)],
      "User-Agent": ["Bun/1.4.5"],
      Accept: ["*/*"],
    },
    query: "",
    body,
    sourceAddress: "127.0.0.1",
    receivedAt: Date.now(),
  };
}
