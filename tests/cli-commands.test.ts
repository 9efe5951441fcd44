import { describe, expect, test } from "bun:test";
import { parseBucketList, parseHeaderOptions, UsageError } from "../src/cli-commands.ts";

describe("parseHeaderOptions", () => {
  const cases: [string, string[], Record<string, string>][] = [
    ["no options give no headers", [], {}],
    ["a name and value are trimmed", ["  X-A :  one "], { "X-A": "one" }],
    ["only the first colon splits", ["X-Url: http://a:1"], { "X-Url": "http://a:1" }],
    ["a later option with the same name wins", ["X-A: 1", "X-A: 2"], { "X-A": "2" }],
    ["an empty value is kept", ["X-A:"], { "X-A": "" }],
  ];
  for (const [name, options, expected] of cases)
    test(name, () => expect({ ...parseHeaderOptions(options) }).toEqual(expected));

  test("the map has no prototype, so __proto__ becomes an ordinary key", () => {
    const headers = parseHeaderOptions(["__proto__: x"]);
    expect(Object.getPrototypeOf(headers)).toBeNull();
    expect(Object.keys(headers)).toEqual(["__proto__"]);
  });

  for (const bad of ["no colon", ": value"])
    test(`'${bad}' is a usage error naming the option`, () => {
      expect(() => parseHeaderOptions([bad])).toThrow(UsageError);
      expect(() => parseHeaderOptions([bad])).toThrow(`--header expects 'Name: value', got '${bad}'`);
    });
});

describe("parseBucketList", () => {
  const cases: [string, string | undefined, string[] | null][] = [
    ["an absent option means every bucket", undefined, null],
    ["names are split on commas and trimmed", " a, b ,c", ["a", "b", "c"]],
    ["empty names are dropped", "a,,b,", ["a", "b"]],
    ["an empty option is an empty list, not every bucket", "", []],
  ];
  for (const [name, option, expected] of cases)
    test(name, () => expect(parseBucketList(option)).toEqual(expected));
});
