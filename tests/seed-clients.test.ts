/**
 * The client code published with the original log viewer, run unchanged except for the server address.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { append, textLine } from "./helpers/logs.ts";
import { requireTool } from "./helpers/requirements.ts";
import { NODE_SEED, runClient } from "./helpers/seed-clients.ts";
import { startTestServer } from "./helpers/server.ts";
import { waitFor } from "./helpers/ws.ts";

const repoRoot = join(import.meta.dir, "..");

const PYTHON_SEED = `import asyncio
import json
import websockets
async def stream_logs():
    uri = "ws://localhost:5000/logs/ws?repository=my-org/my-repo"
    async with websockets.connect(uri) as websocket:
        print("Connected to log stream")
        try:
            async for message in websocket:
                log_entry = json.loads(message)
                print(f"[{log_entry['level']}] {log_entry['message']}")
        except websockets.exceptions.ConnectionClosed:
            print("Connection closed")
asyncio.run(stream_logs())
`;

describe("seed clients", () => {
  test("the Node.js (ws) client receives its PR's entries and the shutdown close", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hookstream-seed-"));
    try {
      await using server = await startTestServer({ files: { "server.log": "" } });
      const port = String(server.server.port);
      writeFileSync(join(dir, "client.cjs"), NODE_SEED.replace("localhost:5000", `127.0.0.1:${port}`));
      const client = runClient(["node", "client.cjs"], dir, { NODE_PATH: join(repoRoot, "node_modules") });
      await waitFor(
        () => client.output().includes("Connected to log stream"),
        10_000,
        "node client connected",
      );
      append(
        server,
        "server.log",
        textLine({ seq: 1, pr: 123, level: "ERROR" }) + textLine({ seq: 2, pr: 7 }),
      );
      await waitFor(() => client.output().includes("msg 1"), 5000, "entry printed");
      await server.shutdown();
      expect(await client.done()).toBe(0);
      expect(client.output()).toBe(
        "Connected to log stream\n[2026-11-23T10:00:00.000001+00:00] [ERROR] msg 1\nConnection closed: 1001 - Server shutdown\n",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const python = "/usr/bin/python3";
  const hasWebsockets =
    Bun.spawnSync([python, "-c", "import websockets"], { stderr: "ignore" }).exitCode === 0;
  if (requireTool("python3-websockets", hasWebsockets, "apt-get install -y python3-websockets")) {
    test("the Python (websockets) client receives its repository's entries", async () => {
      const dir = mkdtempSync(join(tmpdir(), "hookstream-seed-"));
      try {
        await using server = await startTestServer({ files: { "server.log": "" } });
        writeFileSync(
          join(dir, "client.py"),
          PYTHON_SEED.replace("localhost:5000", `127.0.0.1:${server.server.port}`),
        );
        const client = runClient([python, "client.py"], dir);
        await waitFor(
          () => client.output().includes("Connected to log stream"),
          10_000,
          "python client connected",
        );
        append(
          server,
          "server.log",
          textLine({ seq: 1, repository: "other/repo" }) + textLine({ seq: 2, repository: "my-org/my-repo" }),
        );
        await waitFor(() => client.output().includes("msg 2"), 5000, "entry printed");
        await server.shutdown();
        expect(await client.done()).toBe(0);
        expect(client.output()).toBe("Connected to log stream\n[INFO] msg 2\n");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
