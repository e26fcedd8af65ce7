/**
 * /demo/leader.js: the leader demo's script (the page and its style are in ../http/demo-page.ts).
 * Bundled on its own; its imports stay "/page-connection.js" and "/leasehold.js" (see
 * packages/client/scripts/bundle-pages.mjs).
 */
// /page-connection.js has run already (the page loads it first): ?token= is out of the address bar.
import { pageConnection, params } from "./page-connection.js";
import { connect, type LeaseholdClient } from "@leasehold/client";

type Role = "leader" | "follower";
/** A role change, at a time every page of one browser can compare (the tests read window.roleLog). */
interface RoleChange {
  role: Role;
  at: number;
}
declare global {
  interface Window {
    roleLog: RoleChange[];
  }
}

const name = params.get("name") || "demo";
const ttl = Number(params.get("ttl") || 3000);
const self = "tab-" + Math.random().toString(36).slice(2, 8);
const roleElement = element("role");
element("self").textContent = self;
element("name").textContent = name;

window.roleLog = [];
function show(role: Role, token?: number): void {
  if (roleElement.textContent !== role) window.roleLog.push({ role, at: performance.timeOrigin + performance.now() });
  roleElement.textContent = role;
  roleElement.className = "role " + role;
  element("token").textContent = token === undefined ? "" : String(token);
}

const status = (text: string): void => {
  element("status").textContent = text;
};
const target = pageConnection();
if (target.ok) void start(target.server, target.token);
else status(target.reason);

async function start(server: string, token: string | undefined): Promise<void> {
  const client = await connect(server, { agent: "demo " + self, auth: token });
  status("connected");
  client.addEventListener("disconnected", () => status("reconnecting…"));
  client.addEventListener("reconnected", () => status("connected (session resumed)"));
  client.addEventListener("expired", () => status("session expired; starting over"));
  void observe(client);
  void campaign(client);
}

async function observe(client: LeaseholdClient): Promise<never> {
  for (;;) {
    try {
      for await (const leader of client.elections.observe(name)) element("leader").textContent = leader ? String(leader.value) : "(vacant)";
    } catch {
      await pause(250);
    }
  }
}

async function campaign(client: LeaseholdClient): Promise<never> {
  for (;;) {
    try {
      const lease = await client.leases.grant(ttl);
      const term = await client.elections.campaign(name, lease.id, { value: self });
      show("leader", term.token);
      await new Promise((resolve) => term.signal.addEventListener("abort", resolve, { once: true }));
      show("follower");
      await client.leases.revoke(lease.id).catch(() => {});
    } catch {
      show("follower");
      await pause(250);
    }
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An element the page's markup always has. */
function element(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the demo page has no #${id}: /demo/leader.js runs with the markup of /demo/leader`);
  return found;
}
