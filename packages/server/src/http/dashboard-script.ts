/**
 * /dashboard.js: the dashboard's module script, standalone (it imports only /page-connection.js and
 * /leasehold.js). It mirrors the server through the admin feed (`client.admin.subscribe()` into an
 * `AdminMirror`) and redraws at most once a frame, and only what changed:
 *
 * - every table keeps one row element per key and fills only the rows of keys that changed, so a
 *   selection, a hover or a text selection survives updates;
 * - each table draws at most SHOWN rows of its sorted, filtered list (the selected one is always
 *   drawn): 5,000 locks make a page of 200 rows rather than a 21,000 px one, and sorting 5,000
 *   entries costs about 2 ms;
 * - waiting and holding times are computed on the server's clock (`since` in the feed) and
 *   refreshed once a second on the drawn rows only.
 *
 * Written as plain JavaScript in a String.raw (no backtick or dollar-brace inside).
 */
export const DASHBOARD_SCRIPT = String.raw`// /page-connection.js has run already (the page loads it first): ?token= is out of the address bar.
// With authentication on, admin.subscribe needs a credential with the admin right: /?token=...
import { pageConnection } from "/page-connection.js";
import { AdminMirror, connect } from "/leasehold.js";

/** Rows drawn per table; the rest are counted, and found with the filter. */
const SHOWN = 200;
/** Holders and waiters written out in a table cell; the detail panel lists all that the feed sends (100). */
const IN_CELL = 3;

const mirror = new AdminMirror();
const view = { filter: "", sort: "name", selected: null };
/** Keys changed since the last frame, per table; null: everything (a new snapshot, a new filter or sort). */
const changed = { locks: null, elections: null, leases: null, sessions: null };
let frameRequested = false;
let status = "connecting…";
/** Set when the page cannot go on (no connection, no right): the meta line then shows only this. */
let failure = null;

const byId = (id) => document.getElementById(id);

/** A table whose rows are kept by key: rows are moved, filled or removed, never rebuilt. */
class KeyedTable {
  constructor(id, headers, fill, empty) {
    this.id = id;
    this.fill = fill;
    this.empty = empty;
    this.rows = new Map();
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const header of headers) {
      const th = document.createElement("th");
      th.textContent = header;
      head.append(th);
    }
    this.columns = headers.length;
    this.body = table.createTBody();
    this.body.addEventListener("click", (event) => {
      const tr = event.target.closest("tr");
      if (tr) select(this.id, tr.dataset.key);
    });
    this.note = document.createElement("div");
    this.note.className = "empty";
    byId(id).append(table, this.note);
  }

  /** Shows exactly these [key, item] pairs in this order; fills the rows whose key is in refill (all when refill is null). */
  show(items, total, refill) {
    let cursor = this.body.firstElementChild;
    const shown = new Set();
    for (const [key, item] of items) {
      shown.add(key);
      let row = this.rows.get(key);
      if (!row) {
        row = this.make(key);
        this.fill(row.cells, item);
      } else if (refill === null || refill.has(key)) {
        this.fill(row.cells, item);
      }
      if (row.tr === cursor) cursor = cursor.nextElementSibling;
      else this.body.insertBefore(row.tr, cursor);
    }
    for (const [key, row] of this.rows) {
      if (shown.has(key)) continue;
      row.tr.remove();
      this.rows.delete(key);
    }
    this.note.textContent = total === 0 ? this.empty : items.length < total ? "showing " + items.length + " of " + total + "; narrow them with the name prefix" : "";
  }

  make(key) {
    const tr = document.createElement("tr");
    tr.dataset.key = key;
    if (view.selected && view.selected.table === this.id && view.selected.key === key) tr.className = "selected";
    const cells = [];
    for (let index = 0; index < this.columns; index++) cells.push(tr.insertCell());
    const row = { tr, cells };
    this.rows.set(key, row);
    return row;
  }
}

/** Sets a cell's text only when it differs, so that an unchanged row costs the browser nothing. */
function put(cell, text) {
  if (cell.textContent !== text) cell.textContent = text;
}

function duration(ms) {
  const clamped = Math.max(0, ms);
  if (clamped < 60000) return (clamped / 1000).toFixed(1) + " s";
  if (clamped < 3600000) return Math.floor(clamped / 60000) + " min " + Math.floor((clamped % 60000) / 1000) + " s";
  return Math.floor(clamped / 3600000) + " h " + Math.floor((clamped % 3600000) / 60000) + " min";
}
const age = (since) => duration(mirror.serverNow() - since);
const short = (id) => id.slice(0, 8);
const nameOf = (session) => {
  const known = mirror.sessions.get(session);
  return known && known.agent ? known.agent : short(session);
};
// One formatter: toLocaleString makes a new one on every call (tens of µs each).
const numbers = new Intl.NumberFormat("en");
const count = (n) => numbers.format(n);
const more = (listed, total) => (total > listed ? "\n… " + count(total - listed) + " more" : "");

function holdersText(entry) {
  const lines = entry.holders.slice(0, IN_CELL).map((h) => nameOf(h.session) + " · token " + h.token + (h.mode === "shared" ? " · shared" : "") + " · " + age(h.since));
  return (lines.join("\n") || "(free)") + more(Math.min(IN_CELL, entry.holders.length), entry.held);
}

function waitersText(entry) {
  const lines = entry.waiters.slice(0, IN_CELL).map((w, i) => i + 1 + ". " + nameOf(w.session) + (w.mode === "shared" ? " · shared" : "") + " · " + age(w.since));
  return (lines.join("\n") || "none") + more(Math.min(IN_CELL, entry.waiters.length), entry.waiting);
}

const tables = {
  locks: new KeyedTable("locks", ["name", "kind", "holders (client · token · held for)", "waiting", "queue (client · waiting for)"], (cells, entry) => {
    put(cells[0], entry.name);
    put(cells[1], entry.kind === "semaphore" ? "semaphore of " + entry.limit : entry.kind);
    put(cells[2], holdersText(entry));
    put(cells[3], count(entry.waiting) + (entry.waiters.length > 0 ? "\nlongest " + age(entry.waiters[0].since) : ""));
    put(cells[4], waitersText(entry));
  }, "no locks held or awaited"),
  elections: new KeyedTable("elections", ["name", "leader (client · token · leading for)", "candidates", "candidates in order (client · waiting for)"], (cells, entry) => {
    put(cells[0], entry.name);
    put(cells[1], entry.holders.map((h) => nameOf(h.session) + " · token " + h.token + " · " + age(h.since)).join("") || "(vacant)");
    put(cells[2], count(entry.waiting));
    put(cells[3], waitersText(entry));
  }, "no elections"),
  leases: new KeyedTable("leases", ["lease", "client", "TTL", "ends"], (cells, lease) => {
    put(cells[0], String(lease.lease));
    put(cells[1], nameOf(lease.session) + " (" + short(lease.session) + ")");
    put(cells[2], duration(lease.ttl));
    put(cells[3], lease.expiresAt === undefined ? "kept alive by its session" : "in " + duration(lease.expiresAt - mirror.serverNow()) + " unless renewed");
  }, "no leases"),
  sessions: new KeyedTable("sessions", ["client", "session", "address", "age", "connected"], (cells, session) => {
    put(cells[0], session.agent || "");
    put(cells[1], short(session.session));
    put(cells[2], session.address);
    put(cells[3], age(session.since));
    put(cells[4], session.connected ? "yes" : "no (resumable)");
  }, "no sessions"),
};

const ORDER = {
  name: (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  queue: (a, b) => b.waiting - a.waiting || ORDER.name(a, b),
  wait: (a, b) => oldestWait(a) - oldestWait(b) || ORDER.name(a, b),
};
function oldestWait(entry) {
  return entry.waiters.length > 0 ? entry.waiters[0].since : Infinity;
}

/** The first SHOWN items of a map that match, in order, plus the selected one wherever it is. */
function visible(table, map, keyOf, matches, order) {
  const all = [];
  for (const item of map.values()) if (matches(item)) all.push(item);
  if (order) all.sort(order);
  const items = all.slice(0, SHOWN).map((item) => [keyOf(item), item]);
  const selected = view.selected && view.selected.table === table ? map.get(view.selected.key) : undefined;
  if (selected && matches(selected) && !items.some(([key]) => key === view.selected.key)) items.push([view.selected.key, selected]);
  return { items, total: all.length };
}

function draw() {
  frameRequested = false;
  const prefix = view.filter;
  const named = (entry) => entry.name.startsWith(prefix);
  const agentMatches = (session) => (mirror.sessions.get(session)?.agent ?? "").startsWith(prefix);
  const parts = [
    ["locks", mirror.locks, (entry) => entry.name, named, ORDER[view.sort]],
    ["elections", mirror.elections, (entry) => entry.name, named, ORDER[view.sort]],
    ["leases", mirror.leases, (lease) => String(lease.lease), (lease) => agentMatches(lease.session), null],
    ["sessions", mirror.sessions, (session) => session.session, (session) => (session.agent ?? "").startsWith(prefix), null],
  ];
  for (const [name, map, keyOf, matches, order] of parts) {
    const refill = changed[name];
    if (refill !== null && refill.size === 0) continue;
    const { items, total } = visible(name, map, keyOf, matches, order);
    tables[name].show(items, total, refill === null ? null : new Set([...refill].map(String)));
    changed[name] = new Set();
  }
  drawDetail();
  if (failure !== null) return;
  byId("meta").textContent =
    count(mirror.sessions.size) + " sessions · " + count(mirror.leases.size) + " leases · " + count(mirror.locks.size) + " locks · " +
    count(mirror.elections.size) + " elections · revision " + mirror.revision + " · " + status;
}

function drawDetail() {
  const panel = byId("detail");
  const selected = view.selected;
  if (!selected) return;
  panel.className = "";
  if (selected.table === "sessions" || selected.table === "leases") {
    const item = mirror[selected.table].get(selected.table === "leases" ? Number(selected.key) : selected.key);
    put(panel, item ? JSON.stringify(item, null, 2) : selected.key + "\n\ngone");
    return;
  }
  const entry = mirror[selected.table].get(selected.key);
  if (!entry) {
    put(panel, selected.key + "\n\nnow free: nobody holds or awaits it");
    return;
  }
  const lines = [entry.name, entry.kind + (entry.limit ? " of " + entry.limit : ""), "", "holders (" + count(entry.held) + "):"];
  for (const h of entry.holders) lines.push("  " + nameOf(h.session) + " · session " + short(h.session) + " · lease " + h.lease + " · token " + h.token + " · " + h.mode + " · for " + age(h.since));
  lines.push("", (entry.kind === "election" ? "candidates" : "waiters") + " (" + count(entry.waiting) + "):");
  entry.waiters.forEach((w, i) => lines.push("  " + (i + 1) + ". " + nameOf(w.session) + " · session " + short(w.session) + " · lease " + w.lease + " · " + w.mode + " · waiting " + age(w.since)));
  if (entry.waiting > entry.waiters.length) lines.push("  … " + count(entry.waiting - entry.waiters.length) + " more (the feed lists the first " + entry.waiters.length + ")");
  put(panel, lines.join("\n"));
}

function select(table, key) {
  for (const row of Object.values(tables).flatMap((t) => [...t.rows.values()])) row.tr.classList.remove("selected");
  view.selected = { table, key };
  tables[table].rows.get(key)?.tr.classList.add("selected");
  drawDetail();
}

function redraw(what) {
  for (const name of Object.keys(changed)) {
    const keys = what === null ? null : what[name];
    if (keys === null || changed[name] === null) changed[name] = null;
    else for (const key of keys) changed[name].add(key);
  }
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(draw);
  }
}

byId("filter").addEventListener("input", (event) => {
  view.filter = event.target.value;
  redraw(null);
});
byId("sort").addEventListener("change", (event) => {
  view.sort = event.target.value;
  redraw(null);
});
// Times move on: refill the rows drawn once a second (at most SHOWN per table), without sorting again.
setInterval(() => {
  for (const [name, table] of Object.entries(tables)) {
    const map = mirror[name];
    for (const [key, row] of table.rows) {
      const item = map.get(name === "leases" ? Number(key) : key);
      if (item) table.fill(row.cells, item);
    }
  }
  drawDetail();
}, 1000);

function showError(text) {
  failure = text;
  const meta = byId("meta");
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
  client.addEventListener("disconnected", () => {
    status = "reconnecting…";
    redraw({ locks: [], elections: [], leases: [], sessions: [] });
  });
  for (;;) {
    try {
      for await (const update of client.admin.subscribe()) {
        const changes = mirror.apply(update);
        status = mirror.synced ? "live" : "loading…";
        redraw(changes.reset ? null : changes);
      }
      return;
    } catch (error) {
      // A page that fell behind (a long-frozen tab) starts again from a new snapshot; anything else is shown.
      if (error.code === "WATCH_OVERFLOW") continue;
      showError("the feed stopped: " + error.message + (error.code === "PERMISSION_DENIED" ? " (open the dashboard as /?token=<a token with the admin right>)" : ""));
      return;
    }
  }
}
`;
