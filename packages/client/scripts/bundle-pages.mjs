// Builds the scripts of the server's pages (packages/server/src/pages: the dashboard, the leader demo
// and the page-connection module they share) into plain ES modules for <script type="module">, which
// the server serves at /dashboard.js, /demo/leader.js and /page-connection.js. It sits next to
// bundle.mjs because esbuild is this package's dependency.
//
// Two imports stay imports, rewritten to the server's routes: the client ("@leasehold/client" ->
// "/leasehold.js", so that a page loads the one shared browser bundle) and page-connection
// ("./page-connection.js" -> "/page-connection.js", so that both the page's first script and its
// main script get the same module instance: it reads ?token= and removes it from the address bar,
// and a second copy would find it gone).
//
// The browser bundle those pages load ("/leasehold.js") is built into the same folder: the server
// serves its own copy, built with its pages from the same sources, wherever the client package
// happens to be installed (or if it is not).
//
//   node bundle-pages.mjs [outdir]   (default: packages/server/dist/pages)
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { bundleClient } from "./bundle.mjs";

const pages = fileURLToPath(new URL("../../server/src/pages/", import.meta.url));
const outdir = process.argv[2] ?? fileURLToPath(new URL("../../server/dist/pages/", import.meta.url));

/** Imports kept as imports of the server's routes. */
const ROUTES = new Map([
  ["@leasehold/client", "/leasehold.js"],
  ["./page-connection.js", "/page-connection.js"],
]);

const result = await build({
  entryPoints: ["dashboard", "demo-leader", "page-connection"].map((name) => `${pages}${name}.ts`),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  // Readable as served: the three scripts are small and an operator may read what runs.
  minify: false,
  write: true,
  outdir,
  logLevel: "warning",
  plugins: [
    {
      name: "server-routes",
      setup(build) {
        // Entry points are absolute paths: only the imports written as these specifiers match.
        build.onResolve({ filter: /^(@leasehold\/client|\.\/page-connection\.js)$/ }, (args) => ({ path: ROUTES.get(args.path), external: true }));
      },
    },
  ],
});
if (result.errors.length > 0) process.exit(1);
console.log(`page scripts: ${outdir}`);
if (!(await bundleClient(join(outdir, "leasehold.js")))) process.exit(1);
