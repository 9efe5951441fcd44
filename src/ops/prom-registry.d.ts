/**
 * prom-client's registry module on its own: hookstream formats its own samples and needs nothing else of the
 * library. The package's index also loads the push gateway (Node's HTTP client with it), the default metrics
 * and the cluster aggregator. The class is the one the index exports; the version is pinned in package.json.
 */
declare module "prom-client/lib/registry" {
  import { Registry } from "prom-client";
  export default Registry;
}
