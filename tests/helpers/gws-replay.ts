/**
 * Replays a github-webhook-server log directory the way the processor writes it: every main-logger record as
 * its text copy (with its continuation lines) and then its JSON copy, summaries where they stand in the JSON
 * file, and the text-only logger's records at their time.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface ProcessorWrite {
  file: string;
  text: string;
}

const RECORD_START = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/;

/** Physical lines grouped into records: a line without a timestamp continues the one before. */
function textRecords(path: string): Array<{ ts: string; text: string }> {
  const records: Array<{ ts: string; text: string }> = [];
  const lines = readFileSync(path, "utf8").split("\n");
  lines.pop();
  for (const line of lines) {
    const last = records.at(-1);
    if (RECORD_START.test(line) || last === undefined)
      records.push({ ts: line.slice(0, 32), text: `${line}\n` });
    else last.text += `${line}\n`;
  }
  return records;
}

export function processorWrites(dir: string, names = defaultNames): ProcessorWrite[] {
  const main = textRecords(join(dir, names.text));
  const json = readFileSync(join(dir, names.json), "utf8").split("\n").filter(Boolean);
  const writes: ProcessorWrite[] = [];
  let next = 0;
  for (const line of json) {
    const record = JSON.parse(line) as { type: string };
    if (record.type === "log_entry") {
      const text = main[next++];
      if (text === undefined)
        throw new Error("the JSON file has more log_entry lines than the text file records");
      writes.push({ file: names.text, text: text.text });
    }
    writes.push({ file: names.json, text: `${line}\n` });
  }
  if (next !== main.length) throw new Error("the text file has records without a JSON copy");
  // The text-only logger's records, each before the first write that is later than it.
  for (const record of names.textOnly === null ? [] : textRecords(join(dir, names.textOnly))) {
    const at = writes.findIndex((write) => timestampOf(write) > record.ts);
    writes.splice(at === -1 ? writes.length : at, 0, { file: names.textOnly as string, text: record.text });
  }
  return writes;
}

function timestampOf(write: ProcessorWrite): string {
  if (!write.file.endsWith(".json")) return write.text.slice(0, 32);
  const record = JSON.parse(write.text) as { timestamp?: string; timing?: { started_at?: string } };
  return record.timestamp ?? record.timing?.started_at ?? "";
}

const defaultNames = {
  text: "webhook-server.log",
  json: "webhooks_2026-12-02.json",
  textOnly: "logs_server.log" as string | null,
};

/** The log files of fixture directories, by name, for `startTestServer({ files })` (README.md left out). */
export function fixtureFiles(...dirs: string[]): Record<string, string> {
  const files: Record<string, string> = {};
  for (const dir of dirs)
    for (const name of readdirSync(dir))
      if (name !== "README.md") files[name] = readFileSync(join(dir, name), "utf8");
  return files;
}
