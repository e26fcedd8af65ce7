/**
 * The live dashboard at `/`: locks, semaphores and elections with their holders and queues (by client
 * name, with waiting times), leases and sessions, kept up to date by the admin feed
 * (`admin.subscribe`) over the page's own WebSocket session and updated in place. Names come from
 * clients, so everything is inserted as text, never as HTML. Markup, style and script are three
 * resources (`/`, `/dashboard.css`, `/dashboard.js`, the script bundled from ../pages/dashboard.ts): the
 * Content-Security-Policy allows nothing inline.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>leasehold · dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/dashboard.css">
<!-- First and on its own, so that ?token= leaves the address bar before the client bundle loads. -->
<script type="module" src="/page-connection.js"></script>
<script type="module" src="/dashboard.js"></script>
</head>
<body>
<h1>leasehold</h1>
<div id="meta">connecting…</div>
<div id="controls">
<label>name prefix <input id="filter" type="search" placeholder="orders/" autocomplete="off" spellcheck="false"></label>
<label>sort locks by <select id="sort">
<option value="name">name</option>
<option value="queue">queue length</option>
<option value="wait">longest wait</option>
</select></label>
</div>
<section id="charts" aria-label="live charts from /metrics"></section>
<div id="charts-status" class="empty"></div>
<div id="layout">
<main>
<h2>Locks and semaphores</h2><div id="locks"></div>
<h2>Elections</h2><div id="elections"></div>
<h2>Leases</h2><div id="leases"></div>
<h2>Sessions</h2><div id="sessions"></div>
</main>
<aside id="detail" class="empty">Click a row to see all its holders and waiters here; the selection stays while the page updates.</aside>
</div>
<p class="note">This page connects only to the server that served it and sends its <code>?token=</code> nowhere
else; it removes the token from the address bar as soon as it has read it.</p>
</body>
</html>
`;

/** /dashboard.css */
export const DASHBOARD_CSS = `body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; color: #1d2433; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
#meta { color: #4a5568; }
#controls { margin: .75rem 0; display: flex; gap: 1.5rem; }
#layout { display: flex; gap: 1.5rem; align-items: flex-start; }
main { flex: 1; min-width: 0; }
aside { position: sticky; top: 1rem; width: 24rem; max-height: 90vh; overflow: auto; white-space: pre-line;
  border: 1px solid #e2e8f0; border-radius: .4rem; padding: .75rem; font-family: ui-monospace, monospace; font-size: 12px; }
/* Fixed layout: a changed cell does not make the browser measure every cell of the table again
   (with automatic layout a once-a-second refresh of 200 rows took 60-185 ms of main thread). */
table { border-collapse: collapse; table-layout: fixed; width: 100%; min-width: 40rem; }
td { overflow-wrap: anywhere; }
#locks th:nth-child(1), #elections th:nth-child(1) { width: 24%; }
#locks th:nth-child(2) { width: 9%; }
#locks th:nth-child(4) { width: 11%; }
#elections th:nth-child(3) { width: 10%; }
td { white-space: pre-line; font-family: ui-monospace, monospace; }
th, td { text-align: left; padding: .3rem .8rem .3rem 0; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
th { color: #4a5568; font-weight: 600; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #f7fafc; }
tr.selected { background: #ebf4ff; }
tbody tr.selected:hover { background: #ebf4ff; }
.empty { color: #718096; font-style: italic; }
.error { color: #c53030; }
.note { color: #718096; margin-top: 2rem; }
#charts { display: flex; flex-wrap: wrap; gap: 1rem; margin: .5rem 0 1rem; }
figure.chart { margin: 0; border: 1px solid #e2e8f0; border-radius: .4rem; padding: .5rem; background: #fcfdfe; }
figure.chart svg { display: block; border-bottom: 1px solid #e2e8f0; }
figcaption { font-size: 12px; color: #4a5568; margin-top: .3rem; max-width: 300px; }
`;
