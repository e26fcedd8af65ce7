import type { SessionOwner } from "../core/accounts.js";
import { allows, Right, type Principal } from "./permissions.js";

/** The owner of a session opened by `principal` from `ip`: accounted per principal, or per address when authentication is off. */
export function sessionOwner(principal: Principal, ip: string): SessionOwner {
  const id = principalId(principal);
  return { principal: id, account: principal.via === "anonymous" ? `address:${ip}` : id, limits: principal.limits, admin: allows(principal, Right.admin, "") };
}

/**
 * A principal's identity across restarts, stored with its sessions, keys and counters: `token:NAME`,
 * `jwt:SUB` (a JWT principal's name already starts with its kind), `anonymous:anonymous`. Token names
 * may not start with `jwt:`, so the kinds never meet.
 */
export function principalId(principal: Principal): string {
  return principal.via === "jwt" ? principal.name : `${principal.via}:${principal.name}`;
}
