// Builds the browser bundle: one ES module with its dependencies and no Node built-ins, for a plain
// <script type="module"> (the server serves it at /leasehold.js). Prints its minified+gzipped size.
//
//   node bundle.mjs [outfile]   (default: packages/client/dist/browser/leasehold.js)
//
// bundle-pages.mjs calls bundleClient too: the server ships its own copy beside its pages' scripts.
import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Bundles the client's sources into `outfile` (and `outfile`.map); false if esbuild reported errors. */
export async function bundleClient(outfile) {
  mkdirSync(dirname(outfile), { recursive: true });
  const result = await build({
    entryPoints: [`${root}src/index.ts`],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["source", "browser"],
    minify: true,
    sourcemap: true,
    write: true,
    outfile,
    logLevel: "warning",
  });
  if (result.errors.length > 0) return false;
  const bytes = readFileSync(outfile);
  console.log(`browser bundle: ${outfile} ${(bytes.length / 1024).toFixed(1)} KB minified, ${(gzipSync(bytes).length / 1024).toFixed(1)} KB gzipped`);
  return true;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const ok = await bundleClient(process.argv[2] ?? `${root}dist/browser/leasehold.js`);
  if (!ok) process.exit(1);
}
