// Builds the browser bundle: one ES module with its dependencies and no Node built-ins, for a plain
// <script type="module"> (the server serves it at /leasehold.js). Prints its minified+gzipped size.
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const outfile = process.argv[2] ?? `${root}dist/browser/leasehold.js`;
mkdirSync(new URL(".", `file://${outfile}`), { recursive: true });

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
if (result.errors.length > 0) process.exit(1);
const { readFileSync } = await import("node:fs");
const bytes = readFileSync(outfile);
console.log(`browser bundle: ${outfile} ${(bytes.length / 1024).toFixed(1)} KB minified, ${(gzipSync(bytes).length / 1024).toFixed(1)} KB gzipped`);
