/**
 * What `hookstream forward` decides without I/O: which socket messages it serves, where a webhook goes, how
 * long it waits before reconnecting, and the line it prints for a finished delivery. Pure.
 */
import { headerValue } from "../relay/target-request.ts";
import type { DeliveryOutcome } from "./deliver.ts";
import type { WebhookFrame } from "./relay-frames.ts";

/** First pause before reconnecting after a failed connection; doubled up to the cap. */
export const RECONNECT_BASE_MS = 500;
export const RECONNECT_CAP_MS = 30_000;

/** The pause before reconnecting after `failedConnections` (at least 1) connections failed in a row. */
export function reconnectWaitMs(failedConnections: number): number {
  return Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** (failedConnections - 1));
}

/**
 * A bucket with outputs sends one message per output, one after another: serve the chosen output's, or
 * (without --output) each delivery once — `previousId` is the id of the message served before this one.
 */
export function servesMessage(
  webhook: WebhookFrame,
  output: string | null,
  previousId: string | null,
): boolean {
  return output !== null ? webhook.outputName === output : webhook.id !== previousId;
}

/** Where this webhook goes: `target` (--target), else its output's http(s) destination; a string says why not. */
export function destinationOf(webhook: WebhookFrame, target: URL | null): URL | string {
  if (target !== null) return target;
  try {
    const url = new URL(webhook.outputDestination);
    if (url.protocol === "http:" || url.protocol === "https:") return url;
  } catch {
    // Reported below like any other undeliverable webhook.
  }
  return `output ${webhook.outputName} has no http(s) destination: "${webhook.outputDestination}"`;
}

/** The line printed for a finished delivery: JSON with --json, else one line for people. */
export function reportLine(
  webhook: WebhookFrame,
  path: string,
  outcome: DeliveryOutcome,
  format: { json: boolean; time: string },
): string {
  const { time } = format;
  if (format.json)
    return JSON.stringify({
      time,
      id: webhook.id,
      bucket: webhook.bucketName,
      method: webhook.method,
      path,
      status: outcome.status,
      duration_ms: outcome.durationMs,
      attempts: outcome.attempts,
      event: headerValue(webhook.headers, "X-GitHub-Event"),
      ...(webhook.replayOf === null ? {} : { replay_of: webhook.replayOf }),
      ...(outcome.answered ? {} : { gave_up: true, error: outcome.error }),
    });
  const replay = webhook.replayOf === null ? "" : ` (replay of ${webhook.replayOf})`;
  if (outcome.answered)
    return `${time} ${webhook.method} ${path} ${outcome.status} ${outcome.durationMs}ms${replay}`;
  return `${time} ${webhook.method} ${path} gave up after ${outcome.attempts} attempts: ${outcome.error} (delivery ${webhook.id})${replay}`;
}
