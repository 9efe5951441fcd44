/**
 * Pure parts of the Redis connection: which errors mean "try again later" (503 / 1013 / retry) rather than an
 * error about the command, and which Redis URLs deserve a warning at start.
 */
import { describe, expect, test } from "bun:test";
import { isUnavailabilityError, redactRedisUrl, redisExposureWarning } from "../../src/cluster/redis.ts";

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

describe("redisExposureWarning", () => {
  const cases: Array<[string, string, RegExp | null]> = [
    ["loopback without a password", "redis://127.0.0.1:6379", null],
    ["localhost", "redis://localhost:6379/2", null],
    ["IPv6 loopback", "redis://[::1]:6379", null],
    ["a private network host with password and TLS", "rediss://:s3cret@redis.internal:6380", null],
    ["another host, no password, no TLS", "redis://10.0.0.5:6379", /no password and no TLS/],
    ["another host with a password but no TLS", "redis://:s3cret@10.0.0.5:6379", /with no TLS/],
    ["another host with TLS but no password", "rediss://redis.example.com:6380", /with no password:/],
  ];
  for (const [name, url, expected] of cases)
    test(name, () => {
      const warning = redisExposureWarning(url);
      if (expected === null) expect(warning).toBeNull();
      else expect(warning ?? "").toMatch(expected);
      // A warning never repeats the password.
      expect(warning ?? "").not.toContain("s3cret");
    });

  test("the URL in logs has its password masked", () => {
    expect(redactRedisUrl("redis://:s3cret@10.0.0.5:6379/1")).toBe("redis://:***@10.0.0.5:6379/1");
    expect(redactRedisUrl("redis://user:s3cret@h:1")).not.toContain("s3cret");
  });
});
