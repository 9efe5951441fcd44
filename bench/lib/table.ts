/**
 * One markdown table: a row per metric, a column per server, hookstream ÷ peer ratios, the client ceiling,
 * the target and whether hookstream meets it. Notes attached to cells become numbered footnotes.
 */
import { SERVER_NAMES, type ServerName } from "./peers.ts";

export type Verdict = "pass" | "miss" | "n/a";

export interface Cell {
  /** null: not measured (the note says why). */
  value: number | null;
  note?: string;
}

export interface Row {
  metric: string;
  cells: Partial<Record<ServerName, Cell>>;
  format: (value: number) => string;
  /** Whether hookstream ÷ peer is meaningful for this row. */
  ratio: boolean;
  ceiling?: string;
  target?: string;
  verdict?: Verdict;
}

export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return "—";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtRate(value: number): string {
  if (!Number.isFinite(value)) return "—";
  if (value >= 1e6) return `${fmt(value / 1e6, 2)} M`;
  if (value >= 1e4) return `${fmt(value / 1e3, 0)} k`;
  return fmt(value, 0);
}

function ratioText(hookstream: number | null | undefined, peer: number | null | undefined): string {
  if (
    hookstream == null ||
    peer == null ||
    !Number.isFinite(hookstream) ||
    !Number.isFinite(peer) ||
    peer === 0
  )
    return "—";
  const r = hookstream / peer;
  return `×${r >= 10 ? fmt(r, 0) : r >= 1 ? fmt(r, 2) : fmt(r, 3)}`;
}

const VERDICT_MARK: Record<Verdict, string> = { pass: "✅ pass", miss: "❌ miss", "n/a": "—" };

export function renderTable(rows: Row[], servers: readonly ServerName[] = SERVER_NAMES): string {
  const peers = servers.filter((s) => s !== "hookstream");
  const notes: string[] = [];
  const noteMark = (note: string) => {
    let index = notes.indexOf(note);
    if (index === -1) index = notes.push(note) - 1;
    return `[${index + 1}]`;
  };
  const header = [
    "Metric",
    ...servers,
    ...peers.map((p) => `hookstream ÷ ${p}`),
    "Client ceiling / floor",
    "Target (hookstream)",
    "Result",
  ];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  for (const row of rows) {
    const cells = servers.map((s) => {
      const cell = row.cells[s];
      if (cell === undefined) return "—";
      const text = cell.value === null ? "skipped" : row.format(cell.value);
      return cell.note ? `${text} ${noteMark(cell.note)}` : text;
    });
    const hook = row.cells.hookstream?.value;
    const ratios = peers.map((p) => (row.ratio ? ratioText(hook, row.cells[p]?.value) : "—"));
    lines.push(
      `| ${[row.metric, ...cells, ...ratios, row.ceiling ?? "—", row.target ?? "—", VERDICT_MARK[row.verdict ?? "n/a"]].join(" | ")} |`,
    );
  }
  if (notes.length > 0) {
    lines.push("");
    notes.forEach((note, i) => {
      lines.push(`[${i + 1}] ${note}  `);
    });
  }
  return lines.join("\n");
}

export function verdict(ok: boolean | null): Verdict {
  return ok === null ? "n/a" : ok ? "pass" : "miss";
}

export function cellsOf<T extends { server: ServerName }>(
  results: T[],
  value: (r: T) => number | null,
  note?: (r: T) => string | undefined,
): Partial<Record<ServerName, Cell>> {
  const cells: Partial<Record<ServerName, Cell>> = {};
  for (const r of results) {
    const n = note?.(r);
    cells[r.server] = n === undefined ? { value: value(r) } : { value: value(r), note: n };
  }
  return cells;
}
