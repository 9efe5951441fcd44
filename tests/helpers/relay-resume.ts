/**
 * What resuming tests read off a relay socket: the next message, webhook bodies in order, the `live` status;
 * and posting a webhook that must be accepted.
 */
import { expect } from "bun:test";
import type { CreatedBucket, RelayFixture, WebhookMessage } from "./relay.ts";
import type { TestSocket } from "./ws.ts";

export interface Status {
  type: "status";
  status: string;
  message?: string;
  requested?: string;
  resumed_from?: string;
}
export type Message = WebhookMessage | Status;

export const LIVE: Status = { type: "status", status: "live", message: "caught up: live from here" };

export const inputOf = (bucket: CreatedBucket) => (bucket.inputs[0] as { id: string }).id;

export async function post(relay: RelayFixture, bucket: CreatedBucket, body: string) {
  const response = await relay.post(inputOf(bucket), body);
  expect(response.status).toBe(200);
}

export async function next(socket: TestSocket, timeoutMs?: number): Promise<Message> {
  return JSON.parse(await socket.next(timeoutMs)) as Message;
}

/** The bodies of the next `count` messages, which must all be webhooks. */
export async function bodies(socket: TestSocket, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const message = await next(socket);
    if (message.type !== "webhook") throw new Error(`expected a webhook, got ${JSON.stringify(message)}`);
    out.push(message.body);
  }
  return out;
}
