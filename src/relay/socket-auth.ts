/**
 * What a `/v1/socket` session asks of the relay before it is fed: its `auth` frame checked (and the access
 * record written, now that its token is known), and the buckets its `subscribe` names looked up.
 */
import type { Authenticate } from "./authenticate.ts";
import type { AuthResult, BucketRef } from "./protocol.ts";
import type { RelaySessionDeps } from "./session.ts";
import type { BucketStore } from "./store.ts";
import { looksLikeTokenKey } from "./tokens.ts";

export interface SocketAuthDeps {
  store: Pick<BucketStore, "listBuckets" | "findBucket">;
  authenticate: Authenticate;
  log: (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;
}

export interface SocketAuth extends Pick<RelaySessionDeps, "authenticate" | "lookupBuckets"> {
  /** Relay sockets refused at `auth` (bad credentials or rate-limited). */
  failures(): number;
}

export function createSocketAuth(deps: SocketAuthDeps): SocketAuth {
  const { store, log } = deps;
  let failures = 0;
  return {
    async authenticate(address, key, secret): Promise<AuthResult> {
      const token = await deps.authenticate(address, { key, secret });
      // The access record of a relay socket: its token is known only now, after the upgrade.
      const access = { address, endpoint: "/v1/socket", key: looksLikeTokenKey(key) ? key : "malformed" };
      if (token === "rate_limited" || token === null) {
        failures++;
        log("warn", "relay socket refused", { ...access, reason: token ?? "invalid" });
        return { ok: false, reason: token ?? "invalid" };
      }
      log("info", "relay socket authenticated", { ...access, buckets: token.bucketIds ?? "all" });
      return { ok: true, grant: { tokenId: token.id, bucketIds: token.bucketIds } };
    },
    async lookupBuckets(refs: readonly string[] | null): Promise<BucketRef[]> {
      if (refs === null) return store.listBuckets();
      const found = [];
      for (const ref of refs) {
        const bucket = await store.findBucket(ref);
        if (bucket !== null) found.push({ id: bucket.id, name: bucket.name });
      }
      return found;
    },
    failures: () => failures,
  };
}
