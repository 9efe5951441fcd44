/** Symlinks in the log directory: nothing outside it is streamed, indexed or searchable unless the operator opts in. */
import { describe, expect, test } from "bun:test";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogFileAccess } from "../../src/logs/file-access.ts";
import { append, connectLogs, seqOf, textLine } from "../helpers/logs.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

async function health(server: TestServer): Promise<string[]> {
  const body = (await (await fetch(server.httpUrl("/health"))).json()) as { watched_files: string[] };
  return body.watched_files.map((path) => path.split("/").pop() as string).sort();
}

/**
 * Entries matching `search`, from a complete answer: a page that ran out of its time budget before indexing a
 * file that just appeared (a loaded machine) says `complete: false`, and is asked again, as a client would.
 */
async function searchCount(server: TestServer, search: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(server.httpUrl(`/logs/api/entries?search=${encodeURIComponent(search)}`));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { entries: unknown[]; complete: boolean };
    if (body.complete || attempt === 20) {
      expect(body.complete).toBe(true);
      return body.entries.length;
    }
  }
}

describe("symlinks in the log directory", () => {
  test("a log-named link to a file outside the directory is not streamed, watched or searchable", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    const outside = join(server.dataDir, "secret.txt");
    writeFileSync(outside, textLine({ seq: 900, repository: "org/secret" }));
    const client = await connectLogs(server);
    symlinkSync(outside, join(server.logDir, "passwd.log"));
    appendFileSync(outside, textLine({ seq: 901, repository: "org/secret" }));
    append(server, "server.log", textLine({ seq: 1 }));
    expect(seqOf(await client.next())).toBe(1);
    expect(await health(server)).toEqual(["server.log"]);
    expect(await searchCount(server, "msg 90")).toBe(0);
    expect(await searchCount(server, "msg 1")).toBe(1);
    // Followed, the link would be a new file read from its start: 900 and 901 would come before 2.
    append(server, "server.log", textLine({ seq: 2 }));
    expect(seqOf(await client.next())).toBe(2);
    client.close();
  });

  test("a link whose target is inside the directory is followed like the file itself", async () => {
    await using server = await startTestServer({ files: { "server.log": "" } });
    mkdirSync(join(server.logDir, "archive"));
    writeFileSync(join(server.logDir, "archive", "today.txt"), textLine({ seq: 1 }));
    const client = await connectLogs(server);
    symlinkSync(join(server.logDir, "archive", "today.txt"), join(server.logDir, "current.log"));
    expect(seqOf(await client.next())).toBe(1);
    expect(await searchCount(server, "msg 1")).toBe(1);
    client.close();
  });

  test("with LOG_FOLLOW_SYMLINKS=true a link to a file outside the directory is followed", async () => {
    await using server = await startTestServer({
      files: { "server.log": "" },
      env: { LOG_FOLLOW_SYMLINKS: "true" },
    });
    const outside = join(server.dataDir, "elsewhere.txt");
    writeFileSync(outside, textLine({ seq: 1 }));
    const client = await connectLogs(server);
    symlinkSync(outside, join(server.logDir, "elsewhere.log"));
    expect(seqOf(await client.next())).toBe(1);
    expect(await searchCount(server, "msg 1")).toBe(1);
    client.close();
  });
});

describe("the file-access rule", () => {
  const setUp = () => {
    const root = mkdtempSync(join(tmpdir(), "hookstream-access-"));
    const dir = join(root, "logs");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(root, "outside.txt"), "outside\n");
    writeFileSync(join(dir, "plain.log"), "plain\n");
    writeFileSync(join(dir, "sub", "inner.txt"), "inner\n");
    symlinkSync(join(dir, "sub", "inner.txt"), join(dir, "inner.log"));
    symlinkSync(join(root, "outside.txt"), join(dir, "outside.log"));
    symlinkSync("../outside.txt", join(dir, "relative.log"));
    symlinkSync(join(dir, "sub"), join(dir, "directory.log"));
    symlinkSync(join(dir, "nowhere"), join(dir, "dangling.log"));
    writeFileSync(join(dir, "notes.txt"), "not a log name\n");
    return { root, dir, [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }) };
  };
  const cases: Array<[string, boolean, string[]]> = [
    [
      "by default, regular files and links into the directory are listed; links out of it are not",
      false,
      ["inner.log", "plain.log"],
    ],
    [
      "with the opt-in, links to regular files anywhere are listed too",
      true,
      ["inner.log", "outside.log", "plain.log", "relative.log"],
    ],
  ];
  for (const [name, followSymlinks, expected] of cases) {
    test(name, () => {
      using fixture = setUp();
      const warnings: string[] = [];
      const access = createLogFileAccess({
        dir: fixture.dir,
        followSymlinks,
        log: (_level, message) => warnings.push(message),
      });
      const listed = (access.list() ?? []).map((entry) => entry.path.split("/").pop()).sort();
      expect(listed).toEqual(expected);
      expect(warnings.length).toBe(followSymlinks ? 0 : 2); // outside.log and relative.log, once each
      access.list();
      expect(warnings.length).toBe(followSymlinks ? 0 : 2);
    });
  }

  test("a missing directory lists as null", () => {
    const access = createLogFileAccess({ dir: "/nonexistent/logs", followSymlinks: false, log: () => {} });
    expect(access.list()).toBeNull();
  });

  test("a name swapped for a link after the check opens and reads nothing", async () => {
    using fixture = setUp();
    const access = createLogFileAccess({ dir: fixture.dir, followSymlinks: false, log: () => {} });
    const plain = (access.list() ?? []).find((entry) => entry.path.endsWith("plain.log"));
    if (plain === undefined) throw new Error("plain.log not listed");
    expect(new TextDecoder().decode((await access.read(plain.path, plain.identity, 0, 6)) ?? undefined)).toBe(
      "plain\n",
    );
    // The swap an attacker would race in between: the checked name now leads outside.
    unlinkSync(plain.path);
    symlinkSync(join(fixture.root, "outside.txt"), `${plain.path}.tmp`);
    renameSync(`${plain.path}.tmp`, plain.path);
    expect(access.open(plain.path, plain.identity)).toBeNull();
    expect(await access.read(plain.path, plain.identity, 0, 8)).toBeNull();
  });
});
