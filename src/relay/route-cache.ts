/**
 * The input routes a store keeps in memory, by input id: a read per webhook costs more than the rest of the
 * request together, and inputs rarely change. The store forgets them on its own changes to buckets or inputs
 * and whenever externalChanges() sees another writer's.
 */
import type { InputRoute } from "./store.ts";

/** Input routes held in memory; past it the cache starts over (it refills from hits). */
const MAX_CACHED_ROUTES = 10_000;

export interface RouteCache {
  /** The cached route, else `read()`'s, kept unless the cache was forgotten while it was read. */
  resolve(
    inputId: string,
    read: () => Promise<InputRoute | null> | InputRoute | null,
  ): Promise<InputRoute | null>;
  forget(): void;
}

export function createRouteCache(): RouteCache {
  const routes = new Map<string, InputRoute>();
  // Counts forgets, so a lookup that raced with one does not put what it read before the change back.
  let generation = 0;
  return {
    async resolve(inputId, read) {
      const cached = routes.get(inputId);
      if (cached !== undefined) return cached;
      const lookup = generation;
      const route = await read();
      // Unknown ids are not cached, so probing random ids cannot evict the real ones.
      if (route !== null && lookup === generation) {
        if (routes.size >= MAX_CACHED_ROUTES) routes.clear();
        routes.set(inputId, route);
      }
      return route;
    },
    forget() {
      routes.clear();
      generation++;
    },
  };
}
