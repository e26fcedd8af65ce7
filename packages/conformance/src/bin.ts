#!/usr/bin/env node
/**
 * `leasehold-conformance server ...` checks a server; `leasehold-conformance client ...` checks a client.
 * Each mode is loaded only when asked for, so that one mode's dependencies never slow the other.
 */
const USAGE = `usage: leasehold-conformance server --url ws://host:port [options]   check a server
       leasehold-conformance client --listen 127.0.0.1:PORT [options] check a client
Run a mode with --help for its options. CONFORMANCE.md tells the whole story.`;

const [mode, ...rest] = process.argv.slice(2);
let status: number;
if (mode === "server") status = await (await import("./server/run.js")).runServerConformance(rest);
else if (mode === "client") status = await (await loadClientMode()).runClientConformance(rest);
else {
  process.stderr.write(`${mode === undefined ? "a mode is required" : `unknown mode "${mode}"`}\n${USAGE}\n`);
  status = 2;
}
process.exit(status);

/**
 * Client mode lives in ./client/run.js (written on its own branch); the path is held in a variable
 * so that this router typechecks before that module exists.
 */
async function loadClientMode(): Promise<{ runClientConformance(argv: string[]): Promise<number> }> {
  const path = "./client/run.js";
  return (await import(path)) as { runClientConformance(argv: string[]): Promise<number> };
}
