/**
 * The server's own log lines. `text` is for people: time, level, message, then `key=value` fields. `json`
 * is for log shippers: one object a line whose fields are top-level keys, so an access line can be filtered by
 * `endpoint` or `address` without parsing its message.
 */
export const LOG_LEVELS = ["info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Values written bare in text lines; anything else is JSON-quoted, so a newline or a space cannot forge a field. */
const BARE_VALUE = /^[\w.:/@+,*-]+$/;

function textValue(value: unknown): string {
  if (typeof value === "string") return BARE_VALUE.test(value) ? value : JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  return JSON.stringify(value);
}

/** Whether a line of `level` is written when LOG_LEVEL is `threshold`. */
export function isLogged(threshold: LogLevel, level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(threshold);
}

export function formatLogLine(
  format: "text" | "json",
  time: string,
  level: LogLevel,
  message: string,
  fields: Record<string, unknown> = {},
): string {
  const present = Object.entries(fields).filter(([, value]) => value !== undefined);
  if (format === "json") {
    // time, level and message come last, so a field can never overwrite them.
    return JSON.stringify({ ...Object.fromEntries(present), time, level, message });
  }
  const suffix = present.map(([key, value]) => ` ${key}=${textValue(value)}`).join("");
  return `${time} ${level.toUpperCase()} ${message}${suffix}`;
}
