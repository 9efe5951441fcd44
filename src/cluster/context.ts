/** What every cluster-mode part receives: the shared Redis, the settings, and this instance's identity. */
import type { Config } from "../process/config.ts";
import type { Redis } from "./redis.ts";

export interface ClusterContext {
  redis: Redis;
  settings: NonNullable<Config["cluster"]>;
  /** Random per process start: names this instance in leases and in `/health`. */
  instanceId: string;
}
