/** A delivery as an input would hand it to a store: plain text, from loopback, received now. */
import type { NewDelivery } from "../../src/relay/store.ts";

export function newDelivery(
  bucketId: string,
  body: string,
  githubDelivery: string | null = null,
  inputId = "input",
): NewDelivery {
  return {
    bucketId,
    inputId,
    githubDelivery,
    method: "POST",
    headers: { "Content-Type": ["text/plain"] },
    query: "",
    body: new TextEncoder().encode(body),
    sourceAddress: "127.0.0.1",
    receivedAt: Date.now(),
  };
}
