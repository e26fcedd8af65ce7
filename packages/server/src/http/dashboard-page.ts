/**
 * The live dashboard at `/`: sessions, leases, locks (with holders, tokens and queues) and elections,
 * refreshed twice a second over the page's own WebSocket session (`admin.state`). Names come from
 * clients, so everything is inserted as text, never as HTML. Markup, style and script are three
 * resources (`/`, `/dashboard.css`, `/dashboard.js`): the Content-Security-Policy allows nothing inline.
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
<h2>Locks and semaphores</h2><div id="locks"></div>
<h2>Elections</h2><div id="elections"></div>
<h2>Leases</h2><div id="leases"></div>
<h2>Sessions</h2><div id="sessions"></div>
<p class="note">This page connects only to the server that served it and sends its <code>?token=</code> nowhere
else; it removes the token from the address bar as soon as it has read it.</p>
</body>
</html>
`;

/** /dashboard.css */
export const DASHBOARD_CSS = `body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; color: #1d2433; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
#meta { color: #4a5568; }
table { border-collapse: collapse; min-width: 40rem; }
td { white-space: pre-line; }
th, td { text-align: left; padding: .3rem .8rem .3rem 0; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
th { color: #4a5568; font-weight: 600; }
td.mono, .mono { font-family: ui-monospace, monospace; }
.empty { color: #718096; font-style: italic; }
.bar { display: inline-block; height: .6rem; background: #48bb78; border-radius: .3rem; vertical-align: middle; }
.error { color: #c53030; }
.note { color: #718096; margin-top: 2rem; }
`;

/** /dashboard.js: the page's module script, standalone (it imports only /page-connection.js and /leasehold.js). */
export const DASHBOARD_SCRIPT = `// /page-connection.js has run already (the page loads it first): ?token= is out of the address bar.
// With authentication on, admin.state needs a credential with the admin right: /?token=...
import { pageConnection } from "/page-connection.js";
import { connect } from "/leasehold.js";

function table(target, headers, rows, empty) {
  const box = document.getElementById(target);
  box.replaceChildren();
  if (rows.length === 0) {
    const note = document.createElement("div");
    note.className = "empty";
    note.textContent = empty;
    box.append(note);
    return;
  }
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const h of headers) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  const body = t.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    tr.dataset.key = row.key;
    for (const cell of row.cells) {
      const td = tr.insertCell();
      if (cell instanceof Node) td.append(cell);
      else td.textContent = String(cell);
      td.className = "mono";
    }
  }
  box.append(t);
}

const short = (id) => id.slice(0, 8);
const seconds = (ms) => (ms / 1000).toFixed(1) + " s";
function remainingBar(remaining, ttl) {
  const span = document.createElement("span");
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.style.width = Math.round((60 * remaining) / ttl) + "px";
  span.append(bar, " " + seconds(remaining));
  return span;
}

function render(state) {
  document.getElementById("meta").textContent =
    state.sessions.length + " sessions · " + state.leases.length + " leases · " + state.locks.length + " locks and elections · revision " + state.revision;
  const locks = state.locks.filter((entry) => entry.kind !== "election");
  table("locks", ["name", "kind", "holders (session · lease · token · mode)", "waiting, in order"], locks.map((entry) => ({
    key: entry.name,
    cells: [
      entry.name,
      entry.kind === "semaphore" ? "semaphore of " + entry.limit : entry.kind,
      entry.holders.map((h) => short(h.session) + " · " + h.lease + " · token " + h.token + " · " + h.mode).join("\\n") || "(free)",
      entry.waiters.map((w, i) => i + 1 + ". " + short(w.session) + " · lease " + w.lease + (w.mode === "shared" ? " · shared" : "")).join("\\n") || "none",
    ],
  })), "no locks held or awaited");
  const elections = state.locks.filter((entry) => entry.kind === "election");
  table("elections", ["name", "leader (session · token)", "candidates waiting"], elections.map((entry) => ({
    key: entry.name,
    cells: [entry.name, entry.holders.map((h) => short(h.session) + " · token " + h.token).join("") || "(vacant)", String(entry.waiters.length)],
  })), "no elections");
  table("leases", ["lease", "session", "TTL", "time left", "kept alive"], state.leases.map((lease) => ({
    key: String(lease.lease),
    cells: [lease.lease, short(lease.session), seconds(lease.ttl), remainingBar(lease.remaining, lease.ttl), lease.keepAlive ? "yes" : "no"],
  })), "no leases");
  table("sessions", ["session", "address", "client", "age", "connected"], state.sessions.map((session) => ({
    key: session.session,
    cells: [short(session.session), session.address, session.agent ?? "", seconds(session.ageMs), session.connected ? "yes" : "no (resumable)"],
  })), "no sessions");
}

function showError(text) {
  const meta = document.getElementById("meta");
  meta.className = "error";
  meta.textContent = text;
}

const target = pageConnection();
if (!target.ok) showError(target.reason);
else watchServer(target.server, target.token);

async function watchServer(server, token) {
  let client;
  try {
    client = await connect(server, { agent: "dashboard", auth: token });
  } catch (error) {
    showError("cannot reach " + server + ": " + error.message + (error.code === "UNAUTHENTICATED" ? " (this server requires authentication: open the dashboard as /?token=<a token with the admin right>)" : ""));
    return;
  }
  for (;;) {
    try {
      render(await client.admin.state());
    } catch (error) {
      document.getElementById("meta").textContent = "refresh failed: " + error.message + (error.code === "PERMISSION_DENIED" ? " (open the dashboard as /?token=<a token with the admin right>)" : "");
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
`;
