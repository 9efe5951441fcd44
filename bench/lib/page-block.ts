/**
 * Blocks of docs/benchmarks.md that a section rewrites on its own: the text between `<!-- name:start -->` and
 * `<!-- name:end -->`, so running one section replaces its block and leaves the rest of the page.
 */

const markers = (name: string) => ({ start: `<!-- ${name}:start -->`, end: `<!-- ${name}:end -->` });

/** The block the page has, or "" when it has none. */
export function blockOf(page: string, name: string): string {
  const { start, end } = markers(name);
  const from = page.indexOf(start);
  const to = page.indexOf(end);
  return from !== -1 && to > from ? page.slice(from + start.length, to).trim() : "";
}

/** Puts the block in the page: in place of the one it has, else under `heading` before the profile or analysis. */
export function spliceBlock(page: string, name: string, heading: string, block: string): string {
  if (block === "") return page;
  const { start, end } = markers(name);
  const wrapped = `${start}\n${block.trim()}\n${end}`;
  const from = page.indexOf(start);
  const to = page.indexOf(end);
  if (from !== -1 && to > from) return page.slice(0, from) + wrapped + page.slice(to + end.length);
  const section = `${heading}\n\n${wrapped}\n\n`;
  for (const anchor of ["## Profile", "## Analysis"]) {
    const at = page.indexOf(`\n${anchor}\n`);
    if (at !== -1) return `${page.slice(0, at + 1)}${section}${page.slice(at + 1)}`;
  }
  return `${page.trimEnd()}\n\n${section}`;
}
