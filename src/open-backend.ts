/**
 * Opens the backend the configuration asks for: cluster mode when REDIS_URL is set, else embedded. The one
 * place the mode is decided; the server and the CLI both call it.
 */
import { openEmbeddedBackend } from "./backend/embedded.ts";
import type { Backend, BackendLog } from "./backend/seam.ts";
import { type ClusterBackendOptions, openClusterBackend } from "./cluster/backend.ts";
import type { Config } from "./process/config.ts";

export type { Backend } from "./backend/seam.ts";

export async function openBackend(
  config: Config,
  log: BackendLog,
  options: ClusterBackendOptions = {},
): Promise<Backend> {
  return config.cluster === null
    ? openEmbeddedBackend(config, log)
    : await openClusterBackend(config, config.cluster, log, options);
}
