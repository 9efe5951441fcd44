import { describe, expect, test } from "bun:test";
import { parseJsonLine, parseTextLine, stripAnsi } from "../../src/logs/parse.ts";

const ESC = "\u001b";
const BEL = "\u0007";
const ST = `${ESC}\\`;

describe("stripAnsi removes every terminal control sequence", () => {
  const cases: Array<[string, string, string]> = [
    ["colour codes are removed", `${ESC}[31mred${ESC}[0m text`, "red text"],
    ["a window title ended by BEL is removed whole", `a${ESC}]0;pwned${BEL}b`, "ab"],
    ["a window title ended by ESC backslash is removed whole", `a${ESC}]2;pwned${ST}b`, "ab"],
    [
      "a hyperlink keeps only its visible text",
      `${ESC}]8;;https://evil.example${ST}link${ESC}]8;;${ST}`,
      "link",
    ],
    ["clear-screen and cursor moves are removed", `${ESC}[2J${ESC}[H${ESC}[10;20Htext${ESC}[3A`, "text"],
    ["private modes such as the alternate screen are removed", `${ESC}[?1049h${ESC}[?25lx`, "x"],
    ["a CSI with an intermediate byte is removed", `${ESC}[2 qx`, "x"],
    ["a device control string is removed whole", `${ESC}Pq#0;2;0;0;0${ST}x`, "x"],
    ["an application program command is removed whole", `${ESC}_payload${BEL}x`, "x"],
    ["a terminal reset is removed", `${ESC}cx`, "x"],
    ["a character set switch is removed", `${ESC}(0x${ESC}(B`, "x"],
    ["an 8-bit CSI is removed whole", "\u009b2Jx", "x"],
    ["an 8-bit OSC ended by an 8-bit ST is removed whole", "\u009d0;pwned\u009cx", "x"],
    ["carriage return, backspace, bell and NUL are removed", `a\rb\bc${BEL}d\u0000e`, "abcde"],
    ["newline and tab are kept", "a\n\tb", "a\n\tb"],
    ["delete and C1 controls are removed", "a\u007fb\u0085c\u009fd", "abcd"],
    ["an unterminated title loses its escape and keeps its text", `a${ESC}]0;title`, "a0;title"],
    ["an unfinished CSI loses its introducer", `a${ESC}[12`, "a12"],
    ["a lone ESC at the end is removed", `x${ESC}`, "x"],
    ["text without controls is returned as it is", "plain text [x] ; 100%", "plain text [x] ; 100%"],
    ["non-ASCII text is kept", "é 日本 😀 \u00a0", "é 日本 😀 \u00a0"],
  ];
  for (const [name, input, output] of cases) test(name, () => expect(stripAnsi(input)).toBe(output));

  test("a megabyte of unterminated string commands is stripped in linear time", () => {
    const hostile = `${"\u0090".repeat(500_000)}${`${ESC}]`.repeat(250_000)}end`;
    const started = performance.now();
    expect(stripAnsi(hostile)).toBe("end");
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("streamed messages of text and JSON lines carry no control sequence", () => {
    const hostile = `title${ESC}]0;owned${BEL} clear${ESC}[2J${ESC}[H done`;
    const text = parseTextLine(`2026-11-23T10:00:00 app INFO ${hostile}`, { naiveZone: "Z" });
    expect(text?.message).toBe("title clear done");
    const json = parseJsonLine(
      JSON.stringify({ type: "log_entry", timestamp: "2026-11-23T10:00:00Z", message: hostile }),
      { naiveZone: "Z" },
      "2026-11-23T10:00:00Z",
    );
    expect(json.message).toBe("title clear done");
  });
});
