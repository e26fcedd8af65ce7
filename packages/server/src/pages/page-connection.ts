/**
 * /page-connection.js: where the server's own pages (dashboard, demo) connect, and with which
 * credential. A module of its own, loaded first by both pages and imported by their scripts (the
 * bundle keeps the import as "/page-connection.js"), so that the rule lives in one place and the
 * token is read once: a second copy inside a page's bundle would find the address bar already clean.
 *
 * - `?token=` is read and removed from the address bar (history.replaceState) before anything else
 *   runs, so that it does not stay in the history, a bookmark or a screenshot.
 * - The page connects only to its own origin (ws:// or wss:// on the host and port that served it).
 *   A `?server=` naming another origin is refused rather than obeyed: otherwise a link
 *   `/?server=wss://evil.example&token=...` would hand the operator's token to whoever wrote it. The
 *   CSP's `connect-src 'self'` says the same to the browser, which would block such a socket anyway.
 *   To watch another server, open its own dashboard.
 */

/** Where to connect, or why the page will not. */
export type PageConnection = { ok: true; server: string; token: string | undefined } | { ok: false; reason: string };

/** The page's query, without the token. */
export const params = new URLSearchParams(location.search);
const token = params.get("token") || undefined;
if (params.has("token")) {
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
}

/** The page's own WebSocket origin: the only place its credential may go. */
export const ownServer = (location.protocol === "https:" ? "wss://" : "ws://") + location.host;

/**
 * { ok: true, server, token } to connect to, or { ok: false, reason } when ?server= names another
 * origin: the reason says why nothing was sent there and what to do instead.
 */
export function pageConnection(): PageConnection {
  const asked = params.get("server");
  if (!asked) return { ok: true, server: ownServer, token };
  if (isOwnOrigin(asked)) return { ok: true, server: asked, token };
  return {
    ok: false,
    reason:
      "this page connects only to the server that served it (" + ownServer + "), so that its credential never goes anywhere else; " +
      "?server=" + asked + " names another one: open this page on that server instead",
  };
}

function isOwnOrigin(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === new URL(ownServer).protocol && parsed.host === location.host;
  } catch {
    return false;
  }
}
