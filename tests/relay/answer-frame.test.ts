/** The `response` frame's parsing and its place in the socket protocol, as tables. Pure. */
import { describe, expect, test } from "bun:test";
import { MAX_ANSWER_BODY_BYTES, parseAnswerFrame } from "../../src/relay/answer-frame.ts";
import { INITIAL_STATE, type ProtocolState, step } from "../../src/relay/protocol.ts";

const valid = { action: "response", id: "42", status: 201 };

describe("parsing a response frame", () => {
  const refused: Array<[string, Record<string, unknown>, string]> = [
    ["an id that is missing is refused", { ...valid, id: undefined }, '"id"'],
    ["an id longer than any delivery id is refused", { ...valid, id: "9".repeat(65) }, '"id"'],
    ["a status below 200 is refused", { ...valid, status: 101 }, '"status"'],
    ["a fractional status is refused", { ...valid, status: 200.5 }, '"status"'],
    ["headers that are a list are refused", { ...valid, headers: ["a"] }, '"headers"'],
    ["a header value with a line break is refused", { ...valid, headers: { "X-A": ["a\r\nb"] } }, "X-A"],
    ["a header name with a space is refused", { ...valid, headers: { "X A": ["b"] } }, "X A"],
    ["a body that is not a string is refused", { ...valid, body: 5 }, '"body"'],
    ["an unknown body encoding is refused", { ...valid, body: "x", body_encoding: "hex" }, "body_encoding"],
    [
      "a body over the limit is refused",
      { ...valid, body: "x".repeat(MAX_ANSWER_BODY_BYTES + 1) },
      `${MAX_ANSWER_BODY_BYTES} bytes`,
    ],
  ];
  for (const [name, frame, message] of refused)
    test(name, () => {
      const parsed = parseAnswerFrame(frame);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.message).toContain(message);
    });

  test("a frame with only an id and a status is an empty answer", () => {
    expect(parseAnswerFrame(valid)).toEqual({
      ok: true,
      id: "42",
      answer: { status: 201, headers: {}, body: new Uint8Array() },
    });
  });

  test("a base64 body comes back as its bytes, and a single header value as a list", () => {
    const parsed = parseAnswerFrame({
      ...valid,
      headers: { "Content-Type": "application/octet-stream" },
      body: Buffer.from([0, 255, 1]).toString("base64"),
      body_encoding: "base64",
    });
    expect(parsed.ok && [...parsed.answer.body]).toEqual([0, 255, 1]);
    expect(parsed.ok && { ...parsed.answer.headers }).toEqual({
      "Content-Type": ["application/octet-stream"],
    });
  });
});

describe("the response frame in the protocol", () => {
  const ready: ProtocolState = {
    phase: "ready",
    grant: { tokenId: 1, bucketIds: ["b"] },
    subscribing: null,
    queued: [],
    recentSubscribes: [],
  };

  test("an authenticated client's answer becomes an answer action with its grant", () => {
    const { actions } = step(ready, { type: "frame", text: JSON.stringify({ ...valid, body: "hi" }), at: 0 });
    expect(actions).toEqual([
      {
        type: "answer",
        grant: { tokenId: 1, bucketIds: ["b"] },
        id: "42",
        answer: { status: 201, headers: {}, body: new TextEncoder().encode("hi") },
      },
    ]);
  });

  test("a malformed answer gets an error status and the connection stays", () => {
    const { state, actions } = step(ready, {
      type: "frame",
      text: JSON.stringify({ ...valid, status: 1 }),
      at: 0,
    });
    expect(state).toBe(ready);
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ type: "send" });
    expect(JSON.parse((actions[0] as { data: string }).data)).toMatchObject({ status: "error" });
  });

  test("an answer before auth is refused like any other frame", () => {
    const { state } = step(INITIAL_STATE, { type: "frame", text: JSON.stringify(valid), at: 0 });
    expect(state.phase).toBe("closed");
  });
});
