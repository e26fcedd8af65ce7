/**
 * /dashboard.js: the dashboard's script (the page and its style are in ../http/dashboard-page.ts).
 * Bundled on its own; its imports stay "/page-connection.js" and "/leasehold.js" (see
 * packages/client/scripts/bundle-pages.mjs). It mirrors the server through the admin feed
 * (`client.admin.subscribe()` into an `AdminMirror`) and redraws at most once a frame, and only what
 * changed:
 *
 * - every table keeps one row element per key and fills only the rows of keys that changed, so a
 *   selection, a hover or a text selection survives updates;
 * - each table draws at most SHOWN rows of its sorted, filtered list (the selected one is always
 *   drawn): 5,000 locks make a page of 200 rows rather than a 21,000 px one, and sorting 5,000
 *   entries costs about 2 ms;
 * - waiting and holding times are computed on the server's clock (`since` in the feed) and
 *   refreshed once a second on the drawn rows only;
 * - live charts read /metrics (dashboard-charts.ts); a lock's recent grants are kept in the page from
 *   the feed's changes (lock-history.ts) and listed in the detail panel.
 */
// /page-connection.js has run already (the page loads it first): ?token= is out of the address bar.
// With authentication on, admin.subscribe needs a credential with the admin right: /?token=...
import { pageConnection } from "./page-connection.js";
import { startCharts } from "./dashboard-charts.js";
import { LockHistory } from "./lock-history.js";
import { AdminMirror, connect, type AdminLeaseView, type AdminLockView, type AdminSessionView, type LeaseholdClient } from "@leasehold/client";

/** Rows drawn per table; the rest are counted, and found with the filter. */
const SHOWN = 200;
/** Holders and waiters written out in a table cell; the detail panel lists all that the feed sends (100). */
const IN_CELL = 3;

type TableName = "locks" | "elections" | "leases" | "sessions";
type Sort = "name" | "queue" | "wait";
type Order<Item> = (a: Item, b: Item) => number;

const mirror = new AdminMirror();
const history = new LockHistory();
const view: { filter: string; sort: Sort; selected: { table: TableName; key: string } | null } = { filter: "", sort: "name", selected: null };
/** Keys changed since the last frame, per table; null: everything (a new snapshot, a new filter or sort). */
const changed: Record<TableName, Set<string> | null> = { locks: null, elections: null, leases: null, sessions: null };
let frameRequested = false;
let status = "connecting…";
/** Set when the page cannot go on (no connection, no right): the meta line then shows only this. */
let failure: string | null = null;

/** Where a table's items come from: the mirror's map, read by the row's key (a string, as in data-key). */
interface Source<Item> {
  all(): Iterable<Item>;
  get(key: string): Item | undefined;
  keyOf(item: Item): string;
}

interface Row {
  tr: HTMLTableRowElement;
  cells: HTMLTableCellElement[];
}

/** A table whose rows are kept by key: rows are moved, filled or removed, never rebuilt. */
class KeyedTable<Item> {
  readonly rows = new Map<string, Row>();
  readonly #body: HTMLTableSectionElement;
  readonly #note: HTMLDivElement;
  readonly #columns: number;

  constructor(
    readonly id: TableName,
    headers: readonly string[],
    /** The text of each cell of an item's row. */
    readonly texts: (item: Item) => string[],
    readonly empty: string,
    readonly source: Source<Item>,
  ) {
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const header of headers) {
      const th = document.createElement("th");
      th.textContent = header;
      head.append(th);
    }
    this.#columns = headers.length;
    this.#body = table.createTBody();
    this.#body.addEventListener("click", (event) => {
      const tr = event.target instanceof Element ? event.target.closest("tr") : null;
      if (tr?.dataset.key !== undefined) select(this.id, tr.dataset.key);
    });
    this.#note = document.createElement("div");
    this.#note.className = "empty";
    byId(id, HTMLElement).append(table, this.#note);
  }

  /** Shows exactly these [key, item] pairs in this order; fills the rows whose key is in refill (all when refill is null). */
  show(items: [string, Item][], total: number, refill: Set<string> | null): void {
    let cursor = this.#body.firstElementChild;
    const shown = new Set<string>();
    for (const [key, item] of items) {
      shown.add(key);
      let row = this.rows.get(key);
      if (!row) {
        row = this.#make(key);
        this.fill(row, item);
      } else if (refill === null || refill.has(key)) {
        this.fill(row, item);
      }
      if (row.tr === cursor) cursor = cursor.nextElementSibling;
      else this.#body.insertBefore(row.tr, cursor);
    }
    for (const [key, row] of this.rows) {
      if (shown.has(key)) continue;
      row.tr.remove();
      this.rows.delete(key);
    }
    this.#note.textContent = total === 0 ? this.empty : items.length < total ? "showing " + items.length + " of " + total + "; narrow them with the name prefix" : "";
  }

  /** Fills every drawn row again from the mirror (times move on), without sorting again. */
  refresh(): void {
    for (const [key, row] of this.rows) {
      const item = this.source.get(key);
      if (item) this.fill(row, item);
    }
  }

  fill(row: Row, item: Item): void {
    const texts = this.texts(item);
    row.cells.forEach((cell, index) => put(cell, texts[index] ?? ""));
  }

  #make(key: string): Row {
    const tr = document.createElement("tr");
    tr.dataset.key = key;
    if (view.selected && view.selected.table === this.id && view.selected.key === key) tr.className = "selected";
    const cells: HTMLTableCellElement[] = [];
    for (let index = 0; index < this.#columns; index++) cells.push(tr.insertCell());
    const row = { tr, cells };
    this.rows.set(key, row);
    return row;
  }
}

/** Sets an element's text only when it differs, so that an unchanged row costs the browser nothing. */
function put(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

function duration(ms: number): string {
  const clamped = Math.max(0, ms);
  if (clamped < 60000) return (clamped / 1000).toFixed(1) + " s";
  if (clamped < 3600000) return Math.floor(clamped / 60000) + " min " + Math.floor((clamped % 60000) / 1000) + " s";
  return Math.floor(clamped / 3600000) + " h " + Math.floor((clamped % 3600000) / 60000) + " min";
}
const age = (since: number): string => duration(mirror.serverNow() - since);
const short = (id: string): string => id.slice(0, 8);
const nameOf = (session: string): string => {
  const known = mirror.sessions.get(session);
  return known && known.agent ? known.agent : short(session);
};
// One formatter: toLocaleString makes a new one on every call (tens of µs each).
const numbers = new Intl.NumberFormat("en");
const count = (n: number): string => numbers.format(n);
const more = (listed: number, total: number): string => (total > listed ? "\n… " + count(total - listed) + " more" : "");

function holdersText(entry: AdminLockView): string {
  const lines = entry.holders.slice(0, IN_CELL).map((h) => nameOf(h.session) + " · token " + h.token + (h.mode === "shared" ? " · shared" : "") + " · " + age(h.since));
  const holders = (lines.join("\n") || (entry.delay ? "" : "(free)")) + more(Math.min(IN_CELL, entry.holders.length), entry.held);
  return entry.delay ? [holders, delayText(entry.delay)].filter(Boolean).join("\n") : holders;
}

/** A lock whose holder was lost (not released) is ungrantable for its lock-delay: say so, with the time left. */
function delayText(delay: NonNullable<AdminLockView["delay"]>): string {
  return "in lock-delay" + (delay.count > 1 ? " (" + count(delay.count) + " lost holds)" : "") + " · " + duration(delay.until - mirror.serverNow()) + " left";
}

function waitersText(entry: AdminLockView): string {
  const lines = entry.waiters.slice(0, IN_CELL).map((w, i) => i + 1 + ". " + nameOf(w.session) + (w.mode === "shared" ? " · shared" : "") + " · " + age(w.since));
  return (lines.join("\n") || "none") + more(Math.min(IN_CELL, entry.waiters.length), entry.waiting);
}

const byName: Source<AdminLockView>["keyOf"] = (entry) => entry.name;
const tables = {
  locks: new KeyedTable<AdminLockView>(
    "locks",
    ["name", "kind", "holders (client · token · held for)", "waiting", "queue (client · waiting for)"],
    (entry) => [
      entry.name,
      entry.kind === "semaphore" ? "semaphore of " + entry.limit : entry.kind,
      holdersText(entry),
      count(entry.waiting) + (entry.waiters[0] !== undefined ? "\nlongest " + age(entry.waiters[0].since) : ""),
      waitersText(entry),
    ],
    "no locks held or awaited",
    { all: () => mirror.locks.values(), get: (key) => mirror.locks.get(key), keyOf: byName },
  ),
  elections: new KeyedTable<AdminLockView>(
    "elections",
    ["name", "leader (client · token · leading for)", "candidates", "candidates in order (client · waiting for)"],
    (entry) => [
      entry.name,
      entry.holders.map((h) => nameOf(h.session) + " · token " + h.token + " · " + age(h.since)).join("") || "(vacant)",
      count(entry.waiting),
      waitersText(entry),
    ],
    "no elections",
    { all: () => mirror.elections.values(), get: (key) => mirror.elections.get(key), keyOf: byName },
  ),
  leases: new KeyedTable<AdminLeaseView>(
    "leases",
    ["lease", "client", "TTL", "ends"],
    (lease) => [
      String(lease.lease),
      nameOf(lease.session) + " (" + short(lease.session) + ")",
      duration(lease.ttl),
      lease.expiresAt === undefined ? "kept alive by its session" : "in " + duration(lease.expiresAt - mirror.serverNow()) + " unless renewed",
    ],
    "no leases",
    // Lease ids are numbers in the mirror and strings in data-key.
    { all: () => mirror.leases.values(), get: (key) => mirror.leases.get(Number(key)), keyOf: (lease) => String(lease.lease) },
  ),
  sessions: new KeyedTable<AdminSessionView>(
    "sessions",
    ["client", "session", "address", "age", "connected"],
    (session) => [session.agent || "", short(session.session), session.address, age(session.since), session.connected ? "yes" : "no (resumable)"],
    "no sessions",
    { all: () => mirror.sessions.values(), get: (key) => mirror.sessions.get(key), keyOf: (session) => session.session },
  ),
};

const ORDER: Record<Sort, Order<AdminLockView>> = {
  name: (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  queue: (a, b) => b.waiting - a.waiting || ORDER.name(a, b),
  wait: (a, b) => oldestWait(a) - oldestWait(b) || ORDER.name(a, b),
};
function oldestWait(entry: AdminLockView): number {
  return entry.waiters[0]?.since ?? Infinity;
}

/** The first SHOWN items of a table's source that match, in order, plus the selected one wherever it is. */
function visible<Item>(table: KeyedTable<Item>, matches: (item: Item) => boolean, order: Order<Item> | null): { items: [string, Item][]; total: number } {
  const all: Item[] = [];
  for (const item of table.source.all()) if (matches(item)) all.push(item);
  if (order) all.sort(order);
  const items = all.slice(0, SHOWN).map((item): [string, Item] => [table.source.keyOf(item), item]);
  const selectedKey = view.selected && view.selected.table === table.id ? view.selected.key : undefined;
  const selected = selectedKey === undefined ? undefined : table.source.get(selectedKey);
  if (selectedKey !== undefined && selected && matches(selected) && !items.some(([key]) => key === selectedKey)) items.push([selectedKey, selected]);
  return { items, total: all.length };
}

function drawTable<Item>(table: KeyedTable<Item>, matches: (item: Item) => boolean, order: Order<Item> | null): void {
  const refill = changed[table.id];
  if (refill !== null && refill.size === 0) return;
  const { items, total } = visible(table, matches, order);
  table.show(items, total, refill);
  changed[table.id] = new Set();
}

function draw(): void {
  frameRequested = false;
  const prefix = view.filter;
  const named = (entry: AdminLockView): boolean => entry.name.startsWith(prefix);
  const agentMatches = (session: string): boolean => (mirror.sessions.get(session)?.agent ?? "").startsWith(prefix);
  drawTable(tables.locks, named, ORDER[view.sort]);
  drawTable(tables.elections, named, ORDER[view.sort]);
  drawTable(tables.leases, (lease) => agentMatches(lease.session), null);
  drawTable(tables.sessions, (session) => (session.agent ?? "").startsWith(prefix), null);
  drawDetail();
  if (failure !== null) return;
  byId("meta", HTMLElement).textContent =
    count(mirror.sessions.size) + " sessions · " + count(mirror.leases.size) + " leases · " + count(mirror.locks.size) + " locks · " +
    count(mirror.elections.size) + " elections · revision " + mirror.revision + " · " + status;
}

function drawDetail(): void {
  const panel = byId("detail", HTMLElement);
  const selected = view.selected;
  if (!selected) return;
  panel.className = "";
  if (selected.table === "sessions" || selected.table === "leases") {
    const item = selected.table === "leases" ? tables.leases.source.get(selected.key) : tables.sessions.source.get(selected.key);
    put(panel, item ? JSON.stringify(item, null, 2) : selected.key + "\n\ngone");
    return;
  }
  const entry = tables[selected.table].source.get(selected.key);
  if (!entry) {
    put(panel, [selected.key, "", "now free: nobody holds or awaits it", "", ...historyLines(selected.table, selected.key)].join("\n"));
    return;
  }
  const lines = [entry.name, entry.kind + (entry.limit ? " of " + entry.limit : ""), ...(entry.delay ? [delayText(entry.delay) + " (nobody is granted it until then)"] : []), "", "holders (" + count(entry.held) + "):"];
  for (const h of entry.holders) lines.push("  " + nameOf(h.session) + " · session " + short(h.session) + " · lease " + h.lease + " · token " + h.token + " · " + h.mode + " · for " + age(h.since));
  lines.push("", (entry.kind === "election" ? "candidates" : "waiters") + " (" + count(entry.waiting) + "):");
  entry.waiters.forEach((w, i) => lines.push("  " + (i + 1) + ". " + nameOf(w.session) + " · session " + short(w.session) + " · lease " + w.lease + " · " + w.mode + " · waiting " + age(w.since)));
  if (entry.waiting > entry.waiters.length) lines.push("  … " + count(entry.waiting - entry.waiters.length) + " more (the feed lists the first " + entry.waiters.length + ")");
  lines.push("", ...historyLines(selected.table, entry.name));
  put(panel, lines.join("\n"));
}

/** The recent grants of a lock or election, as this page saw them since it opened. */
function historyLines(table: "locks" | "elections", name: string): string[] {
  const grants = history.of(table, name);
  const lines = ["recent grants (seen since this page opened):"];
  if (grants.length === 0) lines.push("  none yet");
  for (const grant of grants) {
    const held = grant.endedAt === undefined ? "holding for " + age(grant.since) : "held " + duration(grant.endedAt - grant.since);
    lines.push("  " + grant.holder + " · token " + grant.token + (grant.mode === "shared" ? " · shared" : "") + " · " + held);
  }
  return lines;
}

function select(table: TableName, key: string): void {
  for (const each of Object.values(tables)) for (const row of each.rows.values()) row.tr.classList.remove("selected");
  view.selected = { table, key };
  tables[table].rows.get(key)?.tr.classList.add("selected");
  drawDetail();
}

/** Notes what changed (null: everything) and asks for a frame to draw it in. */
function redraw(what: Record<TableName, Iterable<string | number>> | null): void {
  for (const name of ["locks", "elections", "leases", "sessions"] as const) {
    const keys = changed[name];
    if (what === null || keys === null) changed[name] = null;
    else for (const key of what[name]) keys.add(String(key));
  }
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(draw);
  }
}

const filter = byId("filter", HTMLInputElement);
filter.addEventListener("input", () => {
  view.filter = filter.value;
  redraw(null);
});
const sort = byId("sort", HTMLSelectElement);
sort.addEventListener("change", () => {
  if (isSort(sort.value)) view.sort = sort.value;
  redraw(null);
});
// Times move on: refill the rows drawn once a second (at most SHOWN per table), without sorting again.
setInterval(() => {
  for (const table of Object.values(tables)) table.refresh();
  drawDetail();
}, 1000);

function showError(text: string): void {
  failure = text;
  const meta = byId("meta", HTMLElement);
  meta.className = "error";
  meta.textContent = text;
}

const target = pageConnection();
if (!target.ok) showError(target.reason);
else void watchServer(target.server, target.token);

async function watchServer(server: string, token: string | undefined): Promise<void> {
  let client: LeaseholdClient;
  try {
    client = await connect(server, { agent: "dashboard", auth: token });
  } catch (error) {
    showError("cannot reach " + server + ": " + messageOf(error) + (codeOf(error) === "UNAUTHENTICATED" ? " (this server requires authentication: open the dashboard as /?token=<a token with the admin right>)" : ""));
    return;
  }
  const chartStatus = byId("charts-status", HTMLElement);
  startCharts(byId("charts", HTMLElement), token, (text) => put(chartStatus, text));
  client.addEventListener("disconnected", () => {
    status = "reconnecting…";
    redraw({ locks: [], elections: [], leases: [], sessions: [] });
  });
  for (;;) {
    try {
      for await (const update of client.admin.subscribe()) {
        const changes = mirror.apply(update);
        history.record(update, nameOf, update.now);
        status = mirror.synced ? "live" : "loading…";
        redraw(changes.reset ? null : changes);
      }
      return;
    } catch (error) {
      // A page that fell behind (a long-frozen tab) starts again from a new snapshot; anything else is shown.
      if (codeOf(error) === "WATCH_OVERFLOW") continue;
      showError("the feed stopped: " + messageOf(error) + (codeOf(error) === "PERMISSION_DENIED" ? " (open the dashboard as /?token=<a token with the admin right>)" : ""));
      return;
    }
  }
}

function isSort(value: string): value is Sort {
  return Object.hasOwn(ORDER, value);
}

/** An element of the page's markup, of the type the script expects. */
function byId<Type extends HTMLElement>(id: string, type: new () => Type): Type {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the dashboard has no ${type.name} #${id}: /dashboard.js runs with the markup of /`);
  return found;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function codeOf(error: unknown): unknown {
  return error instanceof Error && "code" in error ? error.code : undefined;
}
