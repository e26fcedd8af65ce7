/**
 * Headers sent with every HTTP response of the server: its pages, scripts, the browser bundle,
 * /healthz, 404s, and the refusals of WebSocket upgrades. The same set everywhere, so that no route
 * can be the one that forgot them.
 *
 * - The Content-Security-Policy allows scripts and styles only from the server's own origin (the
 *   pages load theirs from /dashboard.js, /demo/leader.css, ...: nothing inline, no 'unsafe-inline',
 *   no eval), connections only to its own origin (`'self'` covers ws: and wss: on the same host and
 *   port), workers only from blob: URLs (the client's unthrottled timer worker), no plugins, frames,
 *   forms or <base>. A script injected through a name shown on the
 *   dashboard would not run, and could not send a credential anywhere if it did.
 * - frame-ancestors 'none' (and X-Frame-Options for browsers that predate it): no other site can
 *   frame the dashboard and trick a clicking operator.
 * - nosniff: a response is only ever what its Content-Type says (a key's value echoed in a 404 can
 *   never be run as a script).
 * - no-referrer: the address of a page, which may have held ?token= before the page removed it, is
 *   never sent to anyone.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  // The client keeps its deadlines in a Worker made from a blob: URL, whose timers hidden tabs do
  // not throttle (README, "Background, frozen and closing tabs"); without it the pages would run on
  // throttled timers and a hidden leader tab could step down late.
  "worker-src blob:",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

/** The same headers as raw HTTP/1.1 lines (each ending in CRLF), for responses written to a bare socket. */
export const RAW_SECURITY_HEADERS = Object.entries(SECURITY_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join("");
