import { describe, expect, test } from "bun:test";
import { runsAfterRequest } from "../../src/process/runs-after-request.ts";

/** A task whose runs finish when the test says; each run records what it saw when it started. */
function controlledTask() {
  let value = 0;
  const started: number[] = [];
  const finish: Array<(error?: Error) => void> = [];
  const runs = runsAfterRequest(
    () =>
      new Promise<void>((resolve, reject) => {
        started.push(value);
        finish.push((error) => (error === undefined ? resolve() : reject(error)));
      }),
  );
  return {
    runs,
    started,
    set: (v: number) => {
      value = v;
    },
    finishRun: (i: number, error?: Error) => (finish[i] as (error?: Error) => void)(error),
  };
}

describe("runs after a request", () => {
  test("a request with nothing under way starts a run at once", async () => {
    const task = controlledTask();
    const done = task.runs.request();
    expect(task.started).toEqual([0]);
    task.finishRun(0);
    await done;
    expect(task.runs.current()).toBeNull();
  });

  test("requests during a run wait for one that starts after it, and share it", async () => {
    const task = controlledTask();
    const first = task.runs.request();
    task.set(1); // what the run under way did not see
    const second = task.runs.request();
    const third = task.runs.request();
    let secondDone = false;
    void second.then(() => {
      secondDone = true;
    });
    task.finishRun(0);
    await first;
    await Bun.sleep(0);
    expect(task.started).toEqual([0, 1]);
    expect(secondDone).toBe(false);
    task.finishRun(1);
    await Promise.all([second, third]);
    expect(task.started).toEqual([0, 1]);
  });

  test("a failed run fails its requests, and the queued run still starts after it", async () => {
    const task = controlledTask();
    const first = task.runs.request();
    const second = task.runs.request();
    task.finishRun(0, new Error("disk"));
    await expect(first).rejects.toThrow("disk");
    await Bun.sleep(0);
    expect(task.started.length).toBe(2);
    task.finishRun(1);
    await second;
  });
});
