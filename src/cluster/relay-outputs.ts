/**
 * Outputs and output attempts in Redis (key layout in relay-keys.ts). Semantics are the SQLite store's; the
 * contract suite runs against both. Pending attempts are created by the append script with their delivery;
 * the due set orders them by when they are due, and a claim moves them a lease ahead, so an instance that
 * dies holding one leaves it due again for any instance.
 */
import { z } from "zod";
import {
  type ClaimedAttempt,
  cancelledAttempt,
  newOutput,
  type Output,
  type OutputAttempt,
  OutputNameTakenError,
  type OutputStore,
} from "../relay/store.ts";
import type { Redis } from "./redis.ts";
import { deliveriesOf } from "./relay-bodies.ts";
import { ATTEMPT_RECORD_TTL_MS } from "./relay-deliveries.ts";
import { type RedisKeys, replyArray, replyNumber, replyStrings, writing } from "./relay-keys.ts";
import {
  CLAIM_ATTEMPTS_SCRIPT,
  CREATE_OUTPUT_SCRIPT,
  DELETE_OUTPUT_SCRIPT,
  RECORD_ATTEMPT_SCRIPT,
} from "./relay-record-scripts.ts";

const outputRecord = z.object({
  id: z.string(),
  bucketId: z.string(),
  name: z.string(),
  destination: z.string(),
  deliveredBy: z.enum(["hookstream", "agent"]),
  createdAt: z.number(),
});

const attemptRecord = z.object({
  deliveryId: z.string(),
  outputId: z.string(),
  outputName: z.string(),
  destination: z.string(),
  state: z.enum(["pending", "delivered", "failed", "cancelled"]),
  attempts: z.number().int(),
  nextAt: z.number().nullable(),
  status: z.number().int().nullable(),
  error: z.string().nullable(),
  responseBody: z.string(),
  updatedAt: z.number(),
});

function parse<T>(schema: z.ZodType<T>, json: string, what: string): T {
  const parsed = schema.safeParse(JSON.parse(json));
  if (!parsed.success) throw new Error(`malformed ${what} record in Redis: ${parsed.error.message}`);
  return parsed.data;
}

const byCreation = (a: Output, b: Output) =>
  a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export interface RedisOutputs extends OutputStore {
  outputsOf(bucketId: string): Promise<Output[]>;
}

export function createRedisOutputs(redis: Redis, keys: RedisKeys): RedisOutputs {
  const outputsKey = (bucketId: string) => `${keys.outputsPrefix}${bucketId}`;
  const attemptsKey = (deliveryId: string) => `${keys.attemptsPrefix}${deliveryId}`;

  const record = async (attempt: OutputAttempt) => {
    await redis.eval(
      RECORD_ATTEMPT_SCRIPT,
      [attemptsKey(attempt.deliveryId), keys.outputDue],
      [
        attempt.outputId,
        JSON.stringify(attempt),
        `${attempt.deliveryId}/${attempt.outputId}`,
        attempt.state === "pending" && attempt.nextAt !== null ? attempt.nextAt : "",
        ATTEMPT_RECORD_TTL_MS,
      ],
    );
  };

  const outputsOf = async (bucketId: string) =>
    replyStrings(await redis.send("HVALS", [outputsKey(bucketId)]), "outputs")
      .map((json) => parse(outputRecord, json, "output"))
      .sort(byCreation);

  return {
    outputsOf,
    async createOutput(bucketId, output) {
      const created = newOutput(bucketId, output);
      const outcome = replyNumber(
        await writing(
          redis.eval(
            CREATE_OUTPUT_SCRIPT,
            [keys.buckets, outputsKey(bucketId), keys.version],
            [bucketId, created.id, created.name, JSON.stringify(created)],
          ),
        ),
        "create output",
      );
      if (outcome === -1) return null;
      if (outcome === 0) throw new OutputNameTakenError(output.name);
      return created;
    },
    async deleteOutput(bucketId, idOrName) {
      const deleted = await redis.eval(
        DELETE_OUTPUT_SCRIPT,
        [outputsKey(bucketId), keys.version],
        [idOrName],
      );
      return deleted === 1;
    },
    async claimOutputAttempts(now, leaseMs, limit) {
      const members = replyStrings(
        await redis.eval(CLAIM_ATTEMPTS_SCRIPT, [keys.outputDue], [now, leaseMs, limit]),
        "claimed attempts",
      );
      const claimed: ClaimedAttempt[] = [];
      for (const member of members) {
        const [deliveryId = "", outputId = ""] = member.split("/");
        const json = await redis.send("HGET", [attemptsKey(deliveryId), outputId]);
        const [delivery = null] = await deliveriesOf(
          redis,
          keys,
          replyArray(await redis.send("XRANGE", [keys.deliveries, deliveryId, deliveryId]), "XRANGE"),
        );
        if (typeof json !== "string" || delivery === null) {
          // The delivery or its record is gone (retention, an expired record): nothing left to deliver.
          await redis.send("ZREM", [keys.outputDue, member]);
          continue;
        }
        const attempt = { ...parse(attemptRecord, json, "output attempt"), nextAt: now + leaseMs };
        if ((await redis.send("HEXISTS", [outputsKey(delivery.bucketId), outputId])) !== 1) {
          await record(cancelledAttempt(attempt, now));
          continue;
        }
        claimed.push({ attempt, delivery });
      }
      return claimed;
    },
    recordOutputAttempt: record,
    async nextOutputAttemptAt() {
      // RESP3 answers [[member, score]], RESP2 [member, score].
      const reply = replyArray(
        await redis.send("ZRANGE", [keys.outputDue, 0, 0, "WITHSCORES"]),
        "next due attempt",
      );
      const pair = Array.isArray(reply[0]) ? reply[0] : reply;
      return pair[1] === undefined ? null : replyNumber(pair[1], "next due attempt");
    },
    async outputAttempts(deliveryIds) {
      const attempts: OutputAttempt[] = [];
      for (const id of deliveryIds)
        for (const json of replyStrings(await redis.send("HVALS", [attemptsKey(id)]), "attempts"))
          attempts.push(parse(attemptRecord, json, "output attempt"));
      return attempts;
    },
  };
}
