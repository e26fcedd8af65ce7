import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { defer, repoRoot } from "./fixtures.js";

/** Debian's Chromium, headless, with its phoning home switched off (the network here is closed). */
export async function launchChromium(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [...CHROMIUM_ARGS],
  });
  return browser;
}

/** Flags of every Chromium the tests start: no sandbox (root in CI), no GPU, and nothing that reaches the network by itself. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
] as const;

/** Builds the browser bundle from source into a temporary folder, as `pnpm build` would. */
export function buildBrowserBundle(): string {
  const outfile = join(mkdtempSync(join(tmpdir(), "leasehold-bundle-")), "leasehold.js");
  execFileSync(process.execPath, [join(repoRoot, "packages/client/scripts/bundle.mjs"), outfile], { stdio: "ignore" });
  return outfile;
}

/** Builds the pages' scripts (dashboard, demo, page-connection) from source into a temporary folder, as `pnpm build` would: pass it as `pageScriptsPath`. */
export function buildPageScripts(): string {
  const outdir = mkdtempSync(join(tmpdir(), "leasehold-pages-"));
  execFileSync(process.execPath, [join(repoRoot, "packages/client/scripts/bundle-pages.mjs"), outdir], { stdio: "ignore" });
  return outdir;
}

/**
 * A new page whose console errors and uncaught exceptions are collected, and whose Content-Security-Policy
 * violations are recorded from the first moment of every document (read them with `cspViolations`).
 */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext();
  defer(() => context.close());
  const page = await context.newPage();
  await page.addInitScript(() => {
    const record: string[] = [];
    (window as unknown as { cspViolations: string[] }).cspViolations = record;
    document.addEventListener("securitypolicyviolation", (event) => record.push(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`));
  });
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(url);
  return { page, errors };
}

/** The CSP violations the page has reported so far (see openPage). */
export function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
}
