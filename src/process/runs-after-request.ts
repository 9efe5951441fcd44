/**
 * A task run on request, where each request is served by a run that started after it: a run under way may
 * have read its input before the request (a directory listed, a file's bytes synced), so a request made
 * meanwhile waits for it and for the next run, which every request made meanwhile shares. At most one run
 * is under way and one queued behind it, however many requests come.
 */
export interface RunsAfterRequest {
  /** Resolves (or rejects) with a run that started after this call. */
  request(): Promise<void>;
  /** The run under way, if any. */
  current(): Promise<void> | null;
}

export function runsAfterRequest(run: () => Promise<void>): RunsAfterRequest {
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  const start = (): Promise<void> => {
    const current: Promise<void> = run().finally(() => {
      if (running === current) running = null;
    });
    running = current;
    return current;
  };
  const startQueued = (): Promise<void> => {
    queued = null;
    return start();
  };
  return {
    request() {
      if (running === null) return start();
      // A run that failed still ends: the queued one starts after it either way.
      queued ??= running.then(startQueued, startQueued);
      return queued;
    },
    current: () => running,
  };
}
