/**
 * The page bundled ahead of time, for the single executable: `bun build --compile` has no source tree to
 * bundle from at run time, so build-binary.ts bundles the page once, serialises it here, and embeds the
 * result as a file; the executable finds it in `Bun.embeddedFiles`. Outside an executable there is none and
 * the page is bundled from source as usual.
 */
import type { PageBundle, PageFile } from "./bundle.ts";

/** The embedded file's name (the executable is built with `--asset-naming "[name].[ext]"`). */
export const PREBUILT_PAGE_NAME = "hookstream-page.bin";

interface SerialisedFile {
  body: string;
  type: string;
  etag: string;
}

const serialise = (file: PageFile): SerialisedFile => ({
  body: Buffer.from(file.body).toString("base64"),
  type: file.type,
  etag: file.etag,
});

function revive(file: SerialisedFile): PageFile {
  const body = new Uint8Array(Buffer.from(file.body, "base64"));
  return { body, gzip: Bun.gzipSync(body), type: file.type, etag: file.etag };
}

export function serialisePage(page: PageBundle): string {
  return JSON.stringify({
    html: serialise(page.html),
    assets: [...page.assets].map(([name, file]) => [name, serialise(file)]),
  });
}

/** The page embedded in this executable, or null when running from source. */
export async function embeddedPage(): Promise<PageBundle | null> {
  const file = Bun.embeddedFiles.find(
    (blob) => (blob as Blob & { name?: string }).name === PREBUILT_PAGE_NAME,
  );
  if (file === undefined) return null;
  const parsed = JSON.parse(await file.text()) as {
    html: SerialisedFile;
    assets: Array<[string, SerialisedFile]>;
  };
  return { html: revive(parsed.html), assets: new Map(parsed.assets.map(([name, f]) => [name, revive(f)])) };
}
