/**
 * Folders import downwards only. Each folder of src/ has a rank; a module may import from its own folder and
 * from folders of lower rank, never upwards or sideways — so the layers the folder names promise are the
 * layers the code has, and no import cycle runs between folders. The files at the top of src/ compose
 * everything and may import anything; nothing imports them.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = join(import.meta.dir, "../src");

/** From the bottom: a folder may import the folders listed before it. */
const LAYERS: readonly (readonly string[])[] = [
  ["process", "transport"], // settings and the server's own log lines; the WebSocket seam and shared errors
  ["stream"], // positions, the lag rule, the subscriber that catches up
  ["logs"], // the log side: follower, parser, pairing, journal, hub and filters
  ["history"], // the log files' index and search
  ["relay"], // the relay side: stores, protocol, fan-out, feed
  ["backend"], // the backend seam, and its embedded implementation
  ["cluster"], // the Redis backend of both sides
  ["http"], // the HTTP routes and what guards them
  ["web", "mcp"], // the dashboard's server side and its page; MCP tools over the log APIs
  ["ops"], // probes, metrics, OpenAPI, access log
  ["clients"], // the command-line clients
];

const rankOf = new Map<string, number>();
for (const [rank, folders] of LAYERS.entries()) for (const folder of folders) rankOf.set(folder, rank);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** The top folder of src/ a path is in, or null for the files at the top of src/ (and outside it). */
function folderOf(path: string): string | null {
  const rel = relative(SRC, path);
  if (rel.startsWith("..")) return null;
  const parts = rel.split("/");
  return parts.length > 1 ? (parts[0] as string) : null;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/g;

test("every folder of src/ has a layer", () => {
  const folders = readdirSync(SRC, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);
  expect(folders.filter((folder) => !rankOf.has(folder))).toEqual([]);
});

test("folders import only from their own folder and the layers below", () => {
  const violations: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    if (from === null) continue; // the composition root
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(IMPORT)) {
      const target = resolve(dirname(file), match[1] as string);
      if (!target.startsWith(SRC)) continue; // package.json and the like
      const to = folderOf(target);
      const ok = to === from || (to !== null && (rankOf.get(to) ?? 99) < (rankOf.get(from) ?? -1));
      if (!ok) violations.push(`${relative(SRC, file)} imports ${relative(SRC, target)}`);
    }
  }
  expect(violations).toEqual([]);
});
