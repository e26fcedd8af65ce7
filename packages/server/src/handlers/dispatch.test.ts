import { CLIENT_OPS, type RequestOp } from "@leasehold/protocol";
import { describe, expect, it } from "vitest";
import { HANDLERS, handlerOf } from "./dispatch.js";

describe("the handler table's lookup", () => {
  it("finds every op's own handler, and none for a name on Object.prototype or an unknown op", () => {
    for (const op of Object.keys(HANDLERS) as RequestOp[]) expect(handlerOf(op), op).toBe(HANDLERS[op]);
    for (const op of CLIENT_OPS) if (op !== "hello" && op !== "pong") expect(handlerOf(op as RequestOp), op).toBeDefined();
    for (const name of ["__proto__", "toString", "constructor", "hasOwnProperty", "lock.steal", ""]) expect(handlerOf(name as RequestOp), name).toBeUndefined();
  });
});
