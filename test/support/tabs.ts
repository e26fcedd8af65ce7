import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { CHROMIUM_ARGS } from "./browser.js";

/**
 * Chromium as a user runs it, with tabs that really go to the background: hidden, their timers
 * throttled, freezable. Playwright's own launch cannot give that: its default switches turn
 * throttling off (`--disable-background-timer-throttling`, `--disable-renderer-backgrounding`, ...)
 * and every page it drives gets `Emulation.setFocusEmulationEnabled`, which keeps it visible. So the
 * browser is started here with only our switches, and Playwright attaches over CDP with `noDefaults`.
 * In headless Chromium one page at a time is visible: the one last brought to front.
 *
 * `IntensiveWakeUpThrottling:grace_period_seconds/10` brings the once-a-minute wake-ups of tabs
 * hidden for 5 minutes forward to 10 s (measured: a 50 ms timer chain in a tab hidden 10 s next
 * fired 60 s later).
 */
export class RealTabs {
  /** The blank page that `hideAll()` brings to front. */
  #front: Page | undefined;

  private constructor(
    readonly browser: Browser,
    readonly context: BrowserContext,
    readonly process: ChildProcess,
    readonly profile: string,
  ) {}

  static async launch(): Promise<RealTabs> {
    const profile = mkdtempSync(join(tmpdir(), "leasehold-chromium-"));
    const child = spawn(
      process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      [
        "--headless",
        ...CHROMIUM_ARGS,
        "--remote-debugging-port=0",
        `--user-data-dir=${profile}`,
        "--enable-features=IntensiveWakeUpThrottling:grace_period_seconds/10",
        "about:blank",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const endpoint = await new Promise<string>((resolve, reject) => {
      let output = "";
      child.stderr!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const found = /DevTools listening on (ws:\S+)/.exec(output);
        if (found?.[1]) resolve(found[1]);
      });
      child.once("exit", (code) => reject(new Error(`Chromium exited (${code}) before it listened for DevTools: ${output.slice(-500)}`)));
    });
    const browser = await chromium.connectOverCDP(endpoint, { noDefaults: true });
    const context = browser.contexts()[0];
    if (context === undefined) throw new Error("Chromium started without a default browser context");
    const tabs = new RealTabs(browser, context, child, profile);
    tabs.#front = context.pages()[0] ?? (await context.newPage());
    return tabs;
  }

  /** A new tab at `url` (brought to front: visible until another tab is). */
  async open(url: string): Promise<Page> {
    const page = await this.context.newPage();
    await page.goto(url);
    return page;
  }

  /** Brings the blank tab to front: every other tab is hidden. */
  async hideAll(): Promise<void> {
    await this.#front!.bringToFront();
  }

  /** Page lifecycle through CDP: "frozen" fires `freeze` and stops the page's tasks, "active" fires `resume`. */
  async setLifecycle(page: Page, state: "frozen" | "active"): Promise<void> {
    const session = await this.context.newCDPSession(page);
    try {
      await session.send("Page.setWebLifecycleState", { state });
    } finally {
      await session.detach();
    }
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => {});
    if (this.process.exitCode === null && this.process.signalCode === null) {
      const exited = new Promise((resolve) => this.process.once("exit", resolve));
      this.process.kill("SIGTERM");
      await exited;
    }
    try {
      rmSync(this.profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch {
      // Chromium's helper processes may still be writing to the profile after it exits; it is a temporary folder.
    }
  }
}

/** What a harness tab records, each with a timestamp every tab of one browser shares. */
export interface TabEvent {
  event: "granted" | "aborted" | "failed" | "throttled" | "resumed" | "sample";
  /** performance.timeOrigin + performance.now() in the tab. */
  at: number;
  tab: string;
  leading?: boolean;
  reason?: string;
}

/**
 * In-page code, given as source text (the test runner would otherwise rewrite its dynamic import):
 * `harness(url, name, ttl, options)` connects, grants a lease and campaigns for `name`, recording
 * the grant and the abort of its term in `window.events` and in localStorage (which outlives a
 * navigation). `timerProbe()` times three chained 10 ms timers of the page's own. `chain()` starts
 * a 50 ms timer chain whose last tick `chainSilence()` reports: intensive throttling holds it back.
 */
export const HARNESS = `
window.events = [];
const at = () => performance.timeOrigin + performance.now();
window.at = at;
window.record = (event, extra) => {
  window.events.push({ event, at: at(), tab: window.tab, ...extra });
  localStorage.setItem("events:" + window.tab, JSON.stringify(window.events));
};
window.harness = async (url, name, ttl, options) => {
  window.tab = name + ":" + Math.random().toString(36).slice(2, 8);
  const { connect } = await import("/leasehold.js");
  const client = (window.client = await connect(url, options));
  client.addEventListener("throttled", (event) => record("throttled", { reason: event.detail.reason }));
  const lease = await client.leases.grant(ttl);
  client.elections.campaign(name, lease.id, { value: window.tab }).then(
    (term) => {
      window.term = term;
      record("granted", { token: term.token });
      term.signal.addEventListener("abort", () => record("aborted", { reason: String(term.signal.reason && term.signal.reason.message) }));
    },
    (error) => record("failed", { reason: String(error) }),
  );
  return window.tab;
};
window.timerProbe = () => new Promise((resolve) => {
  const start = at();
  let ticks = 0;
  const tick = () => (++ticks < 3 ? setTimeout(tick, 10) : resolve(at() - start));
  setTimeout(tick, 10);
});
window.chain = () => {
  window.lastTick = at();
  const tick = () => { window.lastTick = at(); setTimeout(tick, 50); };
  setTimeout(tick, 50);
};
window.chainSilence = () => at() - window.lastTick;
`;

/** Events a harness tab recorded: from the live page, or (after it navigated or closed) from localStorage through another tab. */
export async function eventsOf(page: Page, tab?: string): Promise<TabEvent[]> {
  if (tab === undefined) return page.evaluate("window.events") as Promise<TabEvent[]>;
  return JSON.parse(((await page.evaluate(`localStorage.getItem(${JSON.stringify(`events:${tab}`)})`)) as string | null) ?? "[]") as TabEvent[];
}

/**
 * Opens a harness tab that campaigns for `name` through `url`; returns it and its id. The page is
 * loaded from that same address (through a proxy, when `url` is one), since the server's pages may
 * connect only to their own origin (Content-Security-Policy `connect-src 'self'`).
 */
export async function openHarnessTab(
  tabs: RealTabs,
  url: string,
  name: string,
  ttl: number,
  options: Record<string, unknown> = {},
): Promise<{ page: Page; tab: string }> {
  const page = await tabs.open(`${url.replace(/^ws/, "http")}/healthz`);
  await page.evaluate(HARNESS);
  const tab = (await page.evaluate(`window.harness(${JSON.stringify(url)}, ${JSON.stringify(name)}, ${ttl}, ${JSON.stringify(options)})`)) as string;
  return { page, tab };
}

export function firstAt(events: TabEvent[], event: TabEvent["event"]): number | undefined {
  return events.find((entry) => entry.event === event)?.at;
}
