/**
 * Lets the event loop turn once (I/O, timers, other sockets) before the caller goes on. For loops whose steps
 * finish without waiting for anything — a synchronous read resolves its promise at once — and would otherwise
 * run as one chain of microtasks, holding the loop for as long as the work lasts.
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
