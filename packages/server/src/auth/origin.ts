/**
 * Which browser pages may open a WebSocket to the server, judged by the upgrade's `Origin` header
 * before any WebSocket exists. Browsers always send `Origin` on a WebSocket upgrade and a page cannot
 * forge it; programs (Node, CLIs) send none or whatever they like, so the origin check protects
 * browsers' users (cross-site WebSocket hijacking, a page driving a server on localhost) and
 * authentication protects against programs.
 *
 * - No `Origin` header: allowed (not a browser).
 * - With an allow-list: only the listed origins (`*` allows every origin). The server's own pages
 *   (dashboard, demo) are on its own origin, which must then be listed too.
 * - Without a list: pages on the server's own origin (the origin's host equals the `Host` header)
 *   and pages on loopback origins (localhost, 127.0.0.0/8, [::1]). A page elsewhere on the internet
 *   cannot reach a server on your machine through your browser.
 */
export class OriginPolicy {
  readonly #allowed: Set<string> | undefined;
  readonly #any: boolean;

  constructor(allowOrigins: readonly string[] | undefined) {
    this.#any = allowOrigins?.includes("*") ?? false;
    this.#allowed = allowOrigins === undefined || allowOrigins.length === 0 ? undefined : new Set(allowOrigins.filter((origin) => origin !== "*").map(normalize));
  }

  /** For the startup line. */
  describe(): string {
    if (this.#any) return "any origin";
    if (!this.#allowed) return "same origin and loopback pages";
    return [...this.#allowed].join(", ");
  }

  allows(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true;
    if (this.#any) return true;
    const normalized = normalize(origin);
    if (this.#allowed) return this.#allowed.has(normalized);
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // "null" (sandboxed frames, file: pages) and anything unreadable
    }
    if (host !== undefined && url.host === host.toLowerCase()) return true;
    return isLoopback(url.hostname);
  }
}

/** `scheme://host[:port]`, lowercased, default port dropped; what browsers send, whatever was configured. */
function normalize(origin: string): string {
  try {
    const url = new URL(origin);
    return url.origin === "null" ? origin.toLowerCase() : url.origin;
  } catch {
    return origin.toLowerCase();
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname.endsWith(".localhost") || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) || hostname === "[::1]";
}
