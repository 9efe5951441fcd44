import { describe, expect, test } from "bun:test";
import { patchInput } from "../../src/cluster/relay-buckets.ts";
import type { InputPatch } from "../../src/relay/store.ts";

const input: Parameters<typeof patchInput>[0] = {
  id: "in-1",
  bucketId: "b-1",
  name: "default",
  response: { status: 200, body: "ok", headers: {} },
  githubSecret: "s3cret",
  passthrough: false,
  passthroughTimeoutMs: 5_000,
  createdAt: 1,
};

describe("an input record with a patch applied", () => {
  const cases: [string, InputPatch, Partial<typeof input>][] = [
    ["an empty patch changes nothing", {}, {}],
    ["a new name replaces the old one", { name: "ci" }, { name: "ci" }],
    [
      "a new response replaces the whole response",
      { response: { status: 202, body: "", headers: { "x-a": "1" } } },
      { response: { status: 202, body: "", headers: { "x-a": "1" } } },
    ],
    ["a null secret removes the secret", { githubSecret: null }, { githubSecret: null }],
    ["a new secret replaces the old one", { githubSecret: "other" }, { githubSecret: "other" }],
    [
      "passthrough and its timeout are set together or apart",
      { passthrough: true, passthroughTimeoutMs: 900 },
      { passthrough: true, passthroughTimeoutMs: 900 },
    ],
  ];
  for (const [name, patch, changed] of cases)
    test(name, () => expect(patchInput(input, patch)).toEqual({ ...input, ...changed }));

  test("the id, bucket and creation time never change", () => {
    const patched = patchInput(input, { name: "x", githubSecret: null, passthrough: true });
    expect([patched.id, patched.bucketId, patched.createdAt]).toEqual([
      input.id,
      input.bucketId,
      input.createdAt,
    ]);
  });
});
