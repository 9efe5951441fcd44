/**
 * Sections of docs/benchmarks.md that a benchmark rewrites on its own: a block between
 * `<!-- name:start -->` and `<!-- name:end -->`, under a heading of its own.
 */
export interface PageBlock {
  /** The block the page has, or "" when it has none. */
  of(page: string): string;
  /** Puts the block in the page: in place of the one it has, else before the profile or analysis. */
  splice(page: string, block: string): string;
}

export function pageBlock(name: string, heading: string): PageBlock {
  const startMark = `<!-- ${name}:start -->`;
  const endMark = `<!-- ${name}:end -->`;
  return {
    of(page) {
      const start = page.indexOf(startMark);
      const end = page.indexOf(endMark);
      return start !== -1 && end > start ? page.slice(start + startMark.length, end).trim() : "";
    },
    splice(page, block) {
      if (block === "") return page;
      const wrapped = `${startMark}\n${block.trim()}\n${endMark}`;
      const start = page.indexOf(startMark);
      const end = page.indexOf(endMark);
      if (start !== -1 && end > start)
        return page.slice(0, start) + wrapped + page.slice(end + endMark.length);
      const section = `${heading}\n\n${wrapped}\n\n`;
      for (const anchor of ["## Profile", "## Analysis"]) {
        const at = page.indexOf(`\n${anchor}\n`);
        if (at !== -1) return `${page.slice(0, at + 1)}${section}${page.slice(at + 1)}`;
      }
      return `${page.trimEnd()}\n\n${section}`;
    },
  };
}
