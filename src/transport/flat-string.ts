/**
 * Messages handed to Bun's `publish` or `send` are built flat. JavaScriptCore keeps a string made with `+` or
 * a template literal as a rope (its parts, joined on demand), and Bun sends a rope at a higher cost than the
 * same text in one piece, in user and in system time: on this project's machine 0.8 µs more for a 400-byte
 * log entry and 3.5 µs more for a 7 KB relayed webhook, per publish (docs/benchmarks.md, "Ropes on the
 * wire"). `Array.prototype.join` returns one flat string.
 */
export const joinFlat = (...parts: readonly string[]): string => parts.join("");
