/**
 * What the relay needs to know, synchronously, while it builds a message: each bucket's outputs, each
 * input's passthrough timeout, and their names, as they are now. Held in memory (one entry per bucket and
 * input the store has, so bounded by the store's own size) and reloaded whenever the store changed: after
 * this process's own changes (`refresh`), and when another process's changes are noticed (recheck.ts).
 */
import type { OutputRef } from "../message.ts";
import type { BucketStore, Output } from "../store.ts";

export interface OutputDirectory {
  /** The bucket's outputs in creation order; empty when it has none. */
  outputsOf(bucketId: string): readonly Output[];
  /** The input's passthrough timeout (ms), or null when it answers with its configured response. */
  passthroughOf(inputId: string): number | null;
  /** The bucket's and input's names at the last load; null when the bucket or the input was not there. */
  namesOf(bucketId: string, inputId: string): { bucketName: string; inputName: string } | null;
  /** Reloads everything from the store; concurrent calls share the reload under way and one after it. */
  refresh(): Promise<void>;
}

export function createOutputDirectory(store: Pick<BucketStore, "listBuckets">): OutputDirectory {
  let outputs = new Map<string, readonly Output[]>();
  let passthrough = new Map<string, number>();
  let bucketNames = new Map<string, string>();
  let inputNames = new Map<string, string>();
  let running: Promise<void> | null = null;
  let again = false;

  const load = async () => {
    const buckets = await store.listBuckets();
    const nextOutputs = new Map<string, readonly Output[]>();
    const nextPassthrough = new Map<string, number>();
    const nextBucketNames = new Map<string, string>();
    const nextInputNames = new Map<string, string>();
    for (const bucket of buckets) {
      nextBucketNames.set(bucket.id, bucket.name);
      if (bucket.outputs.length > 0) nextOutputs.set(bucket.id, bucket.outputs);
      for (const input of bucket.inputs) {
        nextInputNames.set(input.id, input.name);
        if (input.passthrough) nextPassthrough.set(input.id, input.passthroughTimeoutMs);
      }
    }
    outputs = nextOutputs;
    passthrough = nextPassthrough;
    bucketNames = nextBucketNames;
    inputNames = nextInputNames;
  };

  const refresh = (): Promise<void> => {
    if (running !== null) {
      // A change committed while a load reads may be missed by it: load once more afterwards.
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await load();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };

  return {
    outputsOf: (bucketId) => outputs.get(bucketId) ?? [],
    passthroughOf: (inputId) => passthrough.get(inputId) ?? null,
    namesOf(bucketId, inputId) {
      const bucketName = bucketNames.get(bucketId);
      const inputName = inputNames.get(inputId);
      return bucketName === undefined || inputName === undefined ? null : { bucketName, inputName };
    },
    refresh,
  };
}

/** The socket's view of an output: its name and destination. */
export const outputRef = (output: Output): OutputRef => ({
  name: output.name,
  destination: output.destination,
});
