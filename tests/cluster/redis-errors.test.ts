/** Which Redis errors mean "try again later" (503 / 1013 / retry) and which are errors about the command. */
import { describe, expect, test } from "bun:test";
import { isUnavailabilityError } from "../../src/cluster/redis.ts";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("isUnavailabilityError", () => {
  const cases: Array<[string, unknown, boolean]> = [
    ["connection closed", withCode("Connection closed", "ERR_REDIS_CONNECTION_CLOSED"), true],
    ["offline queue off", withCode("Connection is closed and offline queue is disabled", "X"), true],
    ["refused", withCode("connect ECONNREFUSED 127.0.0.1:6379", "ECONNREFUSED"), true],
    [
      "loading its data",
      withCode("LOADING Redis is loading the dataset in memory", "ERR_REDIS_SERVER_ERROR"),
      true,
    ],
    [
      "a replica after failover",
      withCode("READONLY You can't write against a read only replica.", "ERR_REDIS_SERVER_ERROR"),
      true,
    ],
    [
      "Sentinel without a master",
      withCode("MASTERDOWN Link with MASTER is down", "ERR_REDIS_SERVER_ERROR"),
      true,
    ],
    ["a long script", withCode("BUSY Redis is busy running a script.", "ERR_REDIS_SERVER_ERROR"), true],
    ["a wrong command", withCode("ERR unknown command 'NOPE'", "ERR_REDIS_SERVER_ERROR"), false],
    [
      "out of memory (storage full, not away)",
      withCode("OOM command not allowed when used memory > 'maxmemory'.", "ERR_REDIS_SERVER_ERROR"),
      false,
    ],
    [
      "a script error mentioning BUSY later",
      withCode("ERR Error running script: BUSY here", "ERR_REDIS_SERVER_ERROR"),
      false,
    ],
    [
      "wrong type",
      withCode("WRONGTYPE Operation against a key holding the wrong kind of value", "ERR_REDIS_SERVER_ERROR"),
      false,
    ],
  ];
  for (const [name, error, expected] of cases)
    test(`${name}: ${expected ? "unavailable" : "an error"}`, () =>
      expect(isUnavailabilityError(error)).toBe(expected));
});
