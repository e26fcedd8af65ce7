import { existsSync } from "node:fs";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../support/fixtures.js";
import { buildBrowserBundle, launchChromium, openPage } from "../support/browser.js";

/**
 * `client.locks.request` next to the browser's own `navigator.locks.request`, in the same page and
 * with the same arguments: the same outcome for each (test/web-locks.test.ts checks them in Node).
 */

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
let browser: Browser;
let bundle: string;

beforeAll(async () => {
  if (!existsSync(chromium)) return;
  bundle = buildBrowserBundle();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

interface Outcome {
  what: string;
  ours: string;
  browser: string;
}

describe.skipIf(!existsSync(chromium))("locks.request beside navigator.locks.request in Chromium", () => {
  it("refuses bad arguments with the same errors, takes (name, callback), and answers query()", async () => {
    const server = await startServer({ browserBundlePath: bundle });
    const { page, errors } = await openPage(browser, `http://127.0.0.1:${server.port}/healthz`);
    // Source text: the test runner would otherwise rewrite the dynamic import.
    const outcomes = (await page.evaluate(`(async (url) => {
      const { connect } = await import("/leasehold.js");
      const client = await connect(url);
      const holder = await connect(url, { pageLifecycle: false });
      const name = "lock:side-by-side";
      // Both locks held elsewhere: a request that queued would hang instead of failing.
      await holder.locks.acquire(name, (await holder.leases.grant(5000)).id);
      let releaseOwn;
      // Its lock is stolen by the last case: the request then rejects with an AbortError.
      const own = navigator.locks.request(name, () => new Promise((resolve) => (releaseOwn = resolve))).catch((error) => error.name);
      const noop = () => "called";
      const cases = [
        ["no arguments", []],
        ["a name but no callback", [name]],
        ["a callback that is not a function", [name, {}, "not a function"]],
        ["a callback that is not a function, without options", [name, 42]],
        ["options that are not an object", [name, "exclusive", noop]],
        ["an unknown mode", [name, { mode: "shard" }, noop]],
        ["an unknown mode and a bad callback", [name, { mode: "shard" }, null]],
        ["a name starting with '-'", ["-reserved", noop]],
        ["signal together with ifAvailable", [name, { signal: new AbortController().signal, ifAvailable: true }, noop]],
        ["steal with ifAvailable", [name, { steal: true, ifAvailable: true }, noop]],
        ["steal in shared mode", [name, { steal: true, mode: "shared" }, noop]],
        ["steal with a signal", [name, { steal: true, signal: new AbortController().signal }, noop]],
        ["a '-' name with a bad callback", ["-reserved", {}, 1]],
        ["a signal already aborted", [name, { signal: AbortSignal.abort(new RangeError("gave up")) }, noop]],
        ["ifAvailable while held: called back with null", [name, { ifAvailable: true }, (lock) => String(lock)]],
        ["(name, callback) on a free lock", ["lock:free", (lock) => lock.name + " " + lock.mode]],
      ];
      const settle = (promise) => Promise.race([
        promise.then((value) => "resolved " + value, (error) => "rejected " + (error && error.name)),
        new Promise((resolve) => setTimeout(() => resolve("still waiting after 1 s"), 1000)),
      ]);
      const outcomes = [];
      for (const [what, args] of cases) {
        outcomes.push({ what, ours: await settle(client.locks.request(...args)), browser: await settle(navigator.locks.request(...args)) });
      }
      // Against what is known to be held, not navigator.locks.query(): its clientIds name this browser's documents.
      const snapshot = await client.locks.query("lock:side");
      outcomes.push({ what: "query", ours: JSON.stringify(snapshot), browser: JSON.stringify({ held: [{ name, mode: "exclusive", clientId: holder.sessionId }], pending: [] }) });
      // Last, since it takes both locks away: a steal is granted at once, and the victim's request rejects.
      const ourHolding = client.locks.request("lock:victim", () => new Promise(() => {})).catch((error) => error.name);
      while ((await client.locks.query("lock:victim")).held.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      outcomes.push({ what: "steal", ours: await settle(holder.locks.request("lock:victim", { steal: true }, noop)), browser: await settle(navigator.locks.request(name, { steal: true }, noop)) });
      outcomes.push({ what: "the stolen holder's request", ours: await settle(ourHolding), browser: await settle(own) });
      releaseOwn();
      await holder.close();
      await client.close();
      return outcomes;
    })(${JSON.stringify(server.url)})`)) as Outcome[];
    for (const { what, ours, browser } of outcomes) expect(ours, what).toBe(browser);
    expect(outcomes.map((outcome) => outcome.ours)).toEqual([
      ...Array<string>(7).fill("rejected TypeError"),
      ...Array<string>(5).fill("rejected NotSupportedError"),
      "rejected TypeError",
      "rejected RangeError",
      "resolved null",
      "resolved lock:free exclusive",
      expect.stringContaining('"held":[{"name":"lock:side-by-side","mode":"exclusive"'),
      "resolved called",
      "resolved AbortError",
    ]);
    expect(errors).toEqual([]);
  });
});
