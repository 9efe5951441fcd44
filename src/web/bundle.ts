/**
 * The page bundled in memory by Bun: logs.html with its TypeScript and CSS, minified, assets named by
 * content hash (so they can be cached forever) and pre-compressed once.
 */
import { basename, join } from "node:path";
import { embeddedPage } from "./prebuilt.ts";

/** Where the page's assets are served; the HTML refers to them under this prefix. */
export const ASSET_PREFIX = "/logs/assets/";

export interface PageFile {
  body: Uint8Array<ArrayBuffer>;
  /** gzip of `body`, for clients that accept it. */
  gzip: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

export interface PageBundle {
  html: PageFile;
  /** By file name (no prefix), e.g. `logs-4kq1b2x9.js`. */
  assets: Map<string, PageFile>;
}

export const PAGE_ENTRY = join(import.meta.dir, "client", "logs.html");

function pageFile(body: Uint8Array<ArrayBuffer>, type: string, hash: string | null): PageFile {
  return {
    body,
    gzip: Bun.gzipSync(body),
    type,
    etag: `"${hash ?? Bun.hash(body).toString(36)}"`,
  };
}

export async function buildPage(entry: string = PAGE_ENTRY): Promise<PageBundle> {
  // The single executable carries the page bundled at build time (there is no source tree to bundle).
  const embedded = entry === PAGE_ENTRY ? await embeddedPage() : null;
  if (embedded !== null) return embedded;
  const result = await Bun.build({
    entrypoints: [entry],
    target: "browser",
    minify: true,
    publicPath: ASSET_PREFIX,
    naming: { entry: "[name]-[hash].[ext]", chunk: "[name]-[hash].[ext]", asset: "[name]-[hash].[ext]" },
  });
  if (!result.success)
    throw new AggregateError(result.logs, `bundling ${entry} failed: ${result.logs.map(String).join("; ")}`);
  let html: PageFile | null = null;
  const assets = new Map<string, PageFile>();
  for (const output of result.outputs) {
    const file = pageFile(new Uint8Array(await output.arrayBuffer()), output.type, output.hash);
    if (output.path.endsWith(".html")) html = file;
    else assets.set(basename(output.path), file);
  }
  if (html === null) throw new Error(`bundling ${entry} produced no HTML`);
  return { html, assets };
}
