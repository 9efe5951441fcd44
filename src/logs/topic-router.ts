/**
 * Finds the live topics an entry matches without building a string per candidate. Topics are grouped by mask
 * (which fields they filter on); within a mask, nested Maps keyed by field value, in canonical field order,
 * lead to the topic's value. An entry walks each mask's maps with its own value strings — whose hashes the
 * engine caches on the string — so the cost is a few Map lookups per mask in use, whatever the number of
 * distinct filter combinations. Pure data structure; no I/O.
 */
import { FILTER_FIELDS, type FilterField, type LogEntry } from "./entry.ts";
import { fieldValue, type LogFilters, maskOf } from "./topics.ts";

type Node<T> = Map<string, Node<T> | Leaf<T>>;
interface Leaf<T> {
  leaf: T;
}

interface MaskRoutes<T> {
  mask: number;
  /** Field indexes of the mask, in canonical order. */
  fields: number[];
  /** Mask 0 has no fields: its one topic is the root itself. */
  root: Node<T> | Leaf<T>;
  size: number;
}

export interface TopicRouter<T> {
  add(filters: LogFilters, value: T): void;
  remove(filters: LogFilters): void;
  /**
   * Calls `visit` with the value of every topic whose filters the entry satisfies. `entry` may be a function
   * giving it: it is called only when a topic filters on a field (with unfiltered topics alone, nothing of
   * the entry is read).
   */
  route(entry: LogEntry | (() => LogEntry), visit: (value: T) => void): void;
  maskCount(): number;
}

const isLeaf = <T>(node: Node<T> | Leaf<T> | undefined): node is Leaf<T> =>
  node !== undefined && !(node instanceof Map);

export function createTopicRouter<T>(): TopicRouter<T> {
  const byMask = new Map<number, MaskRoutes<T>>();
  let masks: MaskRoutes<T>[] = [];
  /** Scratch for one entry's field values, filled once per entry for the fields any mask uses. */
  const values: Array<string | null> = FILTER_FIELDS.map(() => null);
  let usedFields = 0;
  const refreshMasks = () => {
    masks = [...byMask.values()];
    usedFields = masks.reduce((used, routes) => used | routes.mask, 0);
  };

  const valuesOf = (filters: LogFilters, fields: number[]) =>
    fields.map((i) => filters[FILTER_FIELDS[i] as FilterField] as string);

  return {
    add(filters, value) {
      const mask = maskOf(filters);
      let routes = byMask.get(mask);
      if (routes === undefined) {
        const fields = FILTER_FIELDS.flatMap((_, i) => ((mask & (1 << i)) !== 0 ? [i] : []));
        routes = { mask, fields, root: fields.length === 0 ? { leaf: value } : new Map(), size: 0 };
        byMask.set(mask, routes);
        refreshMasks();
      }
      const values = valuesOf(filters, routes.fields);
      if (values.length === 0) {
        routes.root = { leaf: value };
        routes.size = 1;
        return;
      }
      let node = routes.root as Node<T>;
      for (let depth = 0; depth < values.length - 1; depth++) {
        const key = values[depth] as string;
        let child = node.get(key);
        if (child === undefined) {
          child = new Map();
          node.set(key, child);
        }
        node = child as Node<T>;
      }
      const last = values[values.length - 1] as string;
      if (!node.has(last)) routes.size++;
      node.set(last, { leaf: value });
    },
    remove(filters) {
      const mask = maskOf(filters);
      const routes = byMask.get(mask);
      if (routes === undefined) return;
      const values = valuesOf(filters, routes.fields);
      if (values.length > 0) {
        // Walk down remembering the path, delete the leaf, then prune maps left empty.
        const path: Node<T>[] = [routes.root as Node<T>];
        for (let depth = 0; depth < values.length - 1; depth++) {
          const child = (path[depth] as Node<T>).get(values[depth] as string);
          if (child === undefined || isLeaf(child)) return;
          path.push(child);
        }
        if (!(path[path.length - 1] as Node<T>).delete(values[values.length - 1] as string)) return;
        for (let depth = path.length - 1; depth > 0 && (path[depth] as Node<T>).size === 0; depth--) {
          (path[depth - 1] as Node<T>).delete(values[depth - 1] as string);
        }
        routes.size--;
      } else {
        routes.size = 0;
      }
      if (routes.size === 0) {
        byMask.delete(mask);
        refreshMasks();
      }
    },
    route(entryOrGetter, visit) {
      const entry = usedFields === 0 || typeof entryOrGetter !== "function" ? entryOrGetter : entryOrGetter();
      for (let i = 0; i < values.length; i++) {
        values[i] =
          (usedFields & (1 << i)) === 0
            ? null
            : fieldValue(entry as LogEntry, FILTER_FIELDS[i] as FilterField);
      }
      for (const routes of masks) {
        let node: Node<T> | Leaf<T> | undefined = routes.root;
        for (const i of routes.fields) {
          const value = values[i];
          if (value === null || value === undefined) {
            node = undefined;
            break;
          }
          node = (node as Node<T>).get(value);
          if (node === undefined) break;
        }
        if (isLeaf(node)) visit(node.leaf);
      }
    },
    maskCount: () => masks.length,
  };
}
