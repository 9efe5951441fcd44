/**
 * Child Bun processes driven over IPC (writer, load clients, ceiling publisher): typed requests one way,
 * typed replies the other, every wait bounded by a timeout.
 */
import type { Subprocess } from "bun";
import { stopChild, track, withOpenFilesLimit } from "./children.ts";

export interface Reply {
  type: string;
}

export interface ChildWorker<Req, Res extends Reply> {
  readonly name: string;
  readonly proc: Subprocess;
  send(message: Req): void;
  /** The next reply of this type (replies of other types stay queued); rejects after `timeoutMs`. */
  next<T extends Res["type"]>(type: T, timeoutMs: number): Promise<Extract<Res, { type: T }>>;
  stop(): Promise<void>;
}

export interface SpawnWorkerOptions {
  /** Run with the raised open-files limit (load clients holding thousands of sockets). */
  manyFiles?: boolean;
  env?: Record<string, string>;
  /** Pins the process to these CPUs (`taskset -c` list). */
  cpus?: string;
}

export function spawnWorker<Req, Res extends Reply>(
  name: string,
  script: string,
  args: string[],
  options: SpawnWorkerOptions = {},
): ChildWorker<Req, Res> {
  const queue: Res[] = [];
  const waiters: Array<{ type: string; resolve: (reply: Res) => void }> = [];
  /** Rejects of pending waits, so a child that dies fails them at once instead of at their timeout. */
  const rejecters = new Set<(reason: Error) => void>();
  let exited = false;

  const base = [
    ...(options.cpus === undefined ? [] : ["taskset", "-c", options.cpus]),
    process.execPath,
    script,
    ...args,
  ];
  const proc = Bun.spawn({
    cmd: options.manyFiles ? withOpenFilesLimit(base) : base,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, ...options.env },
    serialization: "json",
    ipc(message: Res) {
      const index = waiters.findIndex((w) => w.type === message.type);
      if (index === -1) {
        queue.push(message);
        return;
      }
      const [waiter] = waiters.splice(index, 1);
      waiter?.resolve(message);
    },
  });
  track(name, proc, false);
  void proc.exited.then((code) => {
    exited = true;
    for (const reject of rejecters) reject(new Error(`${name} exited with code ${code}`));
  });

  return {
    name,
    proc,
    send(message) {
      if (!exited) proc.send(message);
    },
    next(type, timeoutMs) {
      type Wanted = Extract<Res, { type: typeof type }>;
      const queued = queue.findIndex((m) => m.type === type);
      if (queued !== -1) return Promise.resolve(queue.splice(queued, 1)[0] as Wanted);
      if (exited) return Promise.reject(new Error(`${name} has exited`));
      return new Promise<Wanted>((resolve, reject) => {
        const waiter = {
          type,
          resolve: (reply: Res) => {
            clearTimeout(timer);
            rejecters.delete(fail);
            resolve(reply as Wanted);
          },
        };
        const fail = (reason: Error) => {
          clearTimeout(timer);
          const index = waiters.indexOf(waiter);
          if (index !== -1) waiters.splice(index, 1);
          reject(reason);
        };
        const timer = setTimeout(
          () => fail(new Error(`${name}: no "${type}" within ${timeoutMs} ms`)),
          timeoutMs,
        );
        rejecters.add(fail);
        waiters.push(waiter);
      });
    },
    async stop() {
      await stopChild(proc);
    },
  };
}

/** The child's side: typed send and a handler for requests. */
export function serveParent<Req, Res extends Reply>(
  handle: (message: Req) => void | Promise<void>,
): {
  reply(message: Res): void;
} {
  const reply = (message: Res) => {
    process.send?.(message);
  };
  process.on("message", (message: Req) => {
    Promise.resolve(handle(message)).catch((error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      process.exit(1);
    });
  });
  // The parent is gone: nothing is left to report to.
  process.on("disconnect", () => process.exit(0));
  return { reply };
}
