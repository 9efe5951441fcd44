/**
 * Connection admission: a global cap and a per-address cap, checked before an upgrade is accepted so a
 * refused client gets an HTTP answer instead of a socket that closes at once.
 */
export type Admission = "ok" | "server_full" | "address_full";

export interface ConnectionLimiter {
  /** Reserves a slot for `ip`; the caller must `release(ip)` when the connection ends or the upgrade fails. */
  admit(ip: string): Admission;
  release(ip: string): void;
  count(): number;
}

export function createConnectionLimiter(limits: { max: number; maxPerIp: number }): ConnectionLimiter {
  const perIp = new Map<string, number>();
  let total = 0;
  return {
    admit(ip) {
      if (total >= limits.max) return "server_full";
      const current = perIp.get(ip) ?? 0;
      if (current >= limits.maxPerIp) return "address_full";
      perIp.set(ip, current + 1);
      total++;
      return "ok";
    },
    release(ip) {
      const current = perIp.get(ip);
      if (current === undefined) return;
      if (current > 1) perIp.set(ip, current - 1);
      else perIp.delete(ip);
      total--;
    },
    count: () => total,
  };
}
