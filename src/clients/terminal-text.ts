/**
 * Text from a log line made safe for a terminal. Log messages are written by whoever sent a webhook or
 * wrote a log line; an escape sequence in one could retitle the window, move the cursor, hide lines, or (on
 * some terminals) answer back into the shell. Pure.
 */

/**
 * Whole sequences first, so no parameters are left behind as text: CSI (`ESC [` … final byte, or the C1
 * CSI 0x9B), OSC/DCS/SOS/PM/APC strings (up to BEL or ST, or to the end when unterminated), and the other
 * two-character ESC sequences.
 */
const SEQUENCES =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  /(?:\u001b\[|\u009b)[\u0030-\u003f]*[\u0020-\u002f]*[\u0040-\u007e]?|(?:\u001b[\]PX^_]|[\u0090\u0098\u009d-\u009f])[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u001b[\u0020-\u002f]*[\u0030-\u007e]?/g;
/** Every C0 control but tab and newline, DEL, and every C1 control. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Removes every escape sequence and control character; keeps `\n` and `\t` when `keepLines`. */
export function terminalSafe(text: string, keepLines = true): string {
  const stripped = text.replace(SEQUENCES, "").replace(CONTROLS, "");
  return keepLines ? stripped : stripped.replace(/[\n\t]/g, " ");
}

/**
 * JSON for a terminal or a pipe: JSON.stringify already escapes C0 controls; C1 controls and DEL (which
 * some terminals act on as raw UTF-8) and the line separators are escaped too, so one object stays one line.
 */
export function terminalSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
