/**
 * A small WebSocket test client (Bun's built-in WebSocket): every wait has a timeout, and messages are
 * queued so `next()` never misses one that arrived early.
 */
export interface CloseInfo {
  code: number;
  reason: string;
}

export interface TestSocket {
  readonly socket: WebSocket;
  /** Next text message; rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<string>;
  nextJson<T = Record<string, unknown>>(timeoutMs?: number): Promise<T>;
  /** Collects `count` messages in order. */
  take(count: number, timeoutMs?: number): Promise<string[]>;
  /** Messages received and not yet taken. */
  pending(): number;
  send(data: string): void;
  closed: Promise<CloseInfo>;
  close(): void;
}

const DEFAULT_WAIT_MS = 5000;

export function wsConnect(url: string, timeoutMs = DEFAULT_WAIT_MS): Promise<TestSocket> {
  const socket = new WebSocket(url);
  const queue: string[] = [];
  const waiters: Array<{ deliver: (message: string) => void; fail: (error: Error) => void }> = [];
  let closeInfo: CloseInfo | null = null;
  let closedResolve: (info: CloseInfo) => void = () => {};
  const closed = new Promise<CloseInfo>((resolve) => {
    closedResolve = resolve;
  });

  socket.addEventListener("message", (event) => {
    const data =
      typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data as ArrayBuffer);
    const waiter = waiters.shift();
    if (waiter) waiter.deliver(data);
    else queue.push(data);
  });
  socket.addEventListener("close", (event) => {
    closeInfo = { code: event.code, reason: event.reason };
    closedResolve(closeInfo);
    // Whoever waits for a message will not get one: say so now rather than at their timeout.
    for (const waiter of waiters.splice(0)) {
      waiter.fail(new Error(`socket closed (${event.code} ${event.reason}) while waiting`));
    }
  });

  const next = (wait = DEFAULT_WAIT_MS) =>
    new Promise<string>((resolve, reject) => {
      const queued = queue.shift();
      if (queued !== undefined) return resolve(queued);
      if (closeInfo)
        return reject(new Error(`socket closed (${closeInfo.code} ${closeInfo.reason}) while waiting`));
      const timer = setTimeout(() => {
        const index = waiters.indexOf(waiter);
        if (index !== -1) waiters.splice(index, 1);
        reject(new Error(`no message within ${wait} ms`));
      }, wait);
      const waiter = {
        deliver: (message: string) => {
          clearTimeout(timer);
          resolve(message);
        },
        fail: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      waiters.push(waiter);
    });

  const client: TestSocket = {
    socket,
    next,
    nextJson: async <T>(wait?: number) => JSON.parse(await next(wait)) as T,
    async take(count, wait = DEFAULT_WAIT_MS) {
      const out: string[] = [];
      for (let i = 0; i < count; i++) out.push(await next(wait));
      return out;
    },
    pending: () => queue.length,
    send: (data) => socket.send(data),
    closed,
    close: () => socket.close(),
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no connection to ${url} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.addEventListener("open", () => {
      clearTimeout(timer);
      resolve(client);
    });
    socket.addEventListener("error", () => {
      clearTimeout(timer);
      reject(new Error(`connection to ${url} failed`));
    });
  });
}

/** Resolves when `predicate` holds, polling every few ms; rejects after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = DEFAULT_WAIT_MS,
  what = "condition",
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await Bun.sleep(5);
  }
}
