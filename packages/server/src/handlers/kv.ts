import type { Fence } from "@leasehold/protocol";
import { Right, type Requirement } from "../auth/permissions.js";
import type { HandlerTable } from "./handler.js";

/** Keys and values. */
export const kvHandlers = {
  "kv.put": {
    needs: (request) => writeNeeds("kv.put", request),
    run: ({ coordinator, session }, request) => ({ now: coordinator.shared.put(session, request) }),
  },
  "kv.get": {
    needs: (request) => [{ right: Right.read, name: request.key }],
    run: ({ coordinator }, request) => ({ now: coordinator.shared.get(request.key) }),
  },
  "kv.delete": {
    needs: (request) => writeNeeds("kv.delete", request),
    run: ({ coordinator }, request) => ({ now: coordinator.shared.delete(request) }),
  },
  "kv.list": {
    needs: (request) => [{ right: Right.read, name: request.prefix, prefix: true }],
    run: ({ coordinator }, request) => ({ now: coordinator.shared.list(request) }),
  },
} satisfies Partial<HandlerTable>;

/** A write needs the key's write right; a fence reveals whether a lock is held and with which token, so it needs the lock's right too. */
function writeNeeds(op: "kv.put" | "kv.delete", request: { key: string; fence?: Fence | undefined }): Requirement[] {
  const needs: Requirement[] = [{ right: Right.write, name: request.key }];
  if (request.fence) needs.push({ right: Right.lock, name: request.fence.lock, doing: `${op} fenced by` });
  return needs;
}
